/// Random version-4 UUIDs for `event.id`, from a xoshiro256** generator seeded once from the system
/// generator: unique enough for document ids and far cheaper than a syscall per event.
public struct EventIDGenerator {
    private var s0, s1, s2, s3: UInt64

    public init() {
        var sys = SystemRandomNumberGenerator()
        s0 = sys.next(); s1 = sys.next(); s2 = sys.next(); s3 = sys.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// Deterministic sequence (tests).
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9e37_79b9_7f4a_7c15
            var z = x
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    private static let hex: StaticString = "0123456789abcdef"

    /// Writes a lowercase 8-4-4-4-12 UUID v4 (36 bytes, no quotes) at `p`; returns 36.
    @inline(__always)
    public mutating func write(to p: UnsafeMutablePointer<UInt8>) -> Int {
        let hi = (next() & ~0xf000) | 0x4000                              // version 4 in bits 12-15
        let lo = (next() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000 // variant 10
        let h = Self.hex.utf8Start
        var o = 0
        for i in 0..<16 {
            if i == 8 || i == 12 { p[o] = 0x2d; o += 1 }
            p[o] = h[Int(hi >> UInt64(60 - i * 4) & 15)]; o += 1
        }
        for i in 0..<16 {
            if i == 0 || i == 4 { p[o] = 0x2d; o += 1 }
            p[o] = h[Int(lo >> UInt64(60 - i * 4) & 15)]; o += 1
        }
        return o
    }

    /// Appends a UUID (no quotes).
    public mutating func append(to out: inout [UInt8]) {
        var tmp = [UInt8](repeating: 0, count: 36)
        let n = tmp.withUnsafeMutableBufferPointer { write(to: $0.baseAddress!) }
        out.append(contentsOf: tmp[0..<n])
    }

    public mutating func string() -> String {
        var out: [UInt8] = []
        append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
