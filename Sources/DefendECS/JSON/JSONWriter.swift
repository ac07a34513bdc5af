/// A hand-written JSON writer appending into a reusable byte buffer. No Foundation, no allocation per
/// value beyond buffer growth. The caller writes keys and values in order; commas are inserted here.
///
/// Strings: `"` `\` and control characters are escaped (`\n` `\r` `\t` `\b` `\f`, others `\u00XX`);
/// raw byte input is validated and each invalid UTF-8 sequence becomes U+FFFD; every string is cut at
/// `maxStringBytes` (on a character boundary).
public struct JSONWriter {
    public let buffer: ByteBuffer
    /// Longest string value written, in bytes of UTF-8 (longer ones are cut).
    public var maxStringBytes: Int
    private var needComma = false

    public init(buffer: ByteBuffer = ByteBuffer(), maxStringBytes: Int = 8192) {
        self.buffer = buffer
        self.maxStringBytes = maxStringBytes
    }

    /// Everything written so far (a copy).
    public var bytes: [UInt8] { buffer.bytes }

    // MARK: structure

    @inline(__always) public mutating func beginObject() { comma(); buffer.append(0x7b); needComma = false }
    @inline(__always) public mutating func endObject() { buffer.append(0x7d); needComma = true }
    @inline(__always) public mutating func beginArray() { comma(); buffer.append(0x5b); needComma = false }
    @inline(__always) public mutating func endArray() { buffer.append(0x5d); needComma = true }
    /// Ends a line of NDJSON and resets the comma state for the next document.
    @inline(__always) public mutating func newline() { buffer.append(0x0a); needComma = false }

    /// Writes `"key":` (keys are our own ASCII literals: not escaped).
    @inline(__always)
    public mutating func key(_ k: StaticString) {
        let n = k.utf8CodeUnitCount
        buffer.reserve(n + 4)
        if needComma { buffer.put(0x2c) }
        buffer.put(0x22)
        buffer.cursor.update(from: k.utf8Start, count: n)
        buffer.advance(n)
        buffer.put(0x22); buffer.put(0x3a)
        needComma = false
    }

    /// `"key":{` — begins a nested object under `key`.
    @inline(__always) public mutating func object(_ k: StaticString) { key(k); buffer.append(0x7b); needComma = false }
    @inline(__always) public mutating func array(_ k: StaticString) { key(k); buffer.append(0x5b); needComma = false }

    // MARK: values

    public mutating func string(_ s: String) {
        comma()
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ appendQuoted($0, validate: false) }) {
            return done
        }
        var copy = s
        copy.withUTF8 { appendQuoted($0, validate: false) }
    }

    /// A string from raw bytes that may not be valid UTF-8 (invalid sequences become U+FFFD).
    public mutating func string(bytes raw: UnsafeBufferPointer<UInt8>) {
        comma()
        appendQuoted(raw, validate: true)
    }

    public mutating func string(bytes raw: [UInt8]) {
        raw.withUnsafeBufferPointer { string(bytes: $0) }
    }

    /// A string value written verbatim between quotes (caller guarantees nothing needs escaping).
    @inline(__always)
    public mutating func rawString(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        buffer.reserve(n + 3)
        if needComma { buffer.put(0x2c) }
        buffer.put(0x22)
        buffer.cursor.update(from: s.utf8Start, count: n)
        buffer.advance(n)
        buffer.put(0x22)
        needComma = true
    }

    /// Bytes that are already a complete JSON value (e.g. a precomputed fragment).
    public mutating func rawValue(_ fragment: [UInt8]) {
        comma()
        buffer.append(fragment)
        needComma = true
    }

    /// Appends prebuilt bytes verbatim (after a comma if one is due and `comma`). `complete`: they end
    /// with a whole member (the next one needs a comma); otherwise they end in `"key":` and the next
    /// value follows directly.
    @inline(__always)
    public mutating func appendRaw(_ bytes: [UInt8], comma: Bool, complete: Bool = false) {
        if comma, needComma { buffer.append(0x2c) }
        buffer.append(bytes)
        needComma = complete
    }

    /// Appends a copy of bytes this writer already wrote (`range` of the buffer) as members.
    public mutating func copyWithin(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        comma()
        buffer.reserve(range.count)
        buffer.cursor.update(from: buffer.state.pointee.base + range.lowerBound, count: range.count)
        buffer.advance(range.count)
        needComma = true
    }

    /// Fields (`"k":v,...`) precomputed without the surrounding braces, appended inside the current object.
    @inline(__always)
    public mutating func rawMembers(_ fragment: [UInt8]) {
        guard !fragment.isEmpty else { return }
        comma()
        buffer.append(fragment)
        needComma = true
    }

    public mutating func bool(_ v: Bool) {
        buffer.reserve(6)
        if needComma { buffer.put(0x2c) }
        if v {
            buffer.put(0x74); buffer.put(0x72); buffer.put(0x75); buffer.put(0x65)
        } else {
            buffer.put(0x66); buffer.put(0x61); buffer.put(0x6c); buffer.put(0x73); buffer.put(0x65)
        }
        needComma = true
    }

    public mutating func int(_ v: Int64) {
        comma()
        if v < 0 { buffer.append(0x2d) }
        appendDigits(v.magnitude)
        needComma = true
    }

    public mutating func uint(_ v: UInt64) {
        comma()
        appendDigits(v)
        needComma = true
    }

    /// A decimal number written as a JSON string (ECS ids such as `user.id` are keywords).
    public mutating func decimalString(_ v: UInt64) {
        comma()
        buffer.append(0x22)
        appendDigits(v)
        buffer.append(0x22)
        needComma = true
    }

    /// `"YYYY-MM-DDTHH:MM:SS.mmmZ"` for Unix nanoseconds.
    public mutating func timestamp(unixNs: Int64) {
        comma()
        buffer.reserve(32)
        buffer.put(0x22)
        buffer.advance(ISOTime.write(unixNs: unixNs, to: buffer.cursor, cache: &buffer.state.pointee))
        buffer.put(0x22)
        needComma = true
    }

    /// A string whose bytes `body` writes (at most `maxBytes`, needing no escaping), e.g. a UUID.
    public mutating func rawString(maxBytes: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        comma()
        buffer.reserve(maxBytes + 2)
        buffer.put(0x22)
        buffer.advance(body(buffer.cursor))
        buffer.put(0x22)
        needComma = true
    }

    /// An array of strings, at most `maxCount` elements and `maxTotalBytes` of string bytes in total
    /// (cut at the element that crosses the bound).
    public mutating func stringArray(_ values: [String], maxCount: Int, maxTotalBytes: Int) {
        beginArray()
        var total = 0
        for v in values.prefix(maxCount) {
            let n = v.utf8.count
            if total + n > maxTotalBytes {
                let room = maxTotalBytes - total
                if room > 0 {
                    let saved = maxStringBytes
                    maxStringBytes = min(room, saved)
                    string(v)
                    maxStringBytes = saved
                }
                break
            }
            total += n
            string(v)
        }
        endArray()
    }

    // MARK: internals

    @inline(__always) private mutating func comma() { if needComma { buffer.append(0x2c) } }

    @inline(__always)
    mutating func appendDigits(_ value: UInt64) {
        buffer.reserve(20)
        if value < 10 { buffer.put(UInt8(truncatingIfNeeded: value) &+ 48); return }
        var n = 0
        var v = value
        while v > 0 { n += 1; v /= 10 }
        let p = buffer.cursor
        v = value
        var i = n - 1
        while v > 0 { p[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48; v /= 10; i -= 1 }
        buffer.advance(n)
    }

    private static let hex: StaticString = "0123456789abcdef"

    /// Escaped bytes per input byte at most: 6 (`\u00XX`); U+FFFD replaces >= 1 byte with 3.
    private mutating func appendQuoted(_ input: UnsafeBufferPointer<UInt8>, validate: Bool) {
        var src = input
        if src.count > maxStringBytes {
            var cut = maxStringBytes
            // back off to a character boundary (never split a UTF-8 sequence)
            while cut > 0, src[cut] & 0xc0 == 0x80 { cut -= 1 }
            src = UnsafeBufferPointer(rebasing: src[0..<cut])
        }
        let count = src.count
        buffer.reserve(count &* 6 &+ 2)
        var out = buffer.cursor
        let start = out
        out.pointee = 0x22; out += 1
        guard let s = src.baseAddress else {
            out.pointee = 0x22; out += 1
            buffer.advance(start.distance(to: out))
            needComma = true
            return
        }
        var i = 0
        let raw = UnsafeRawPointer(s)
        let highMask: UInt64 = validate ? 0x8080_8080_8080_8080 : 0
        while i < count {
            // 8 bytes at a time while none needs escaping or validation (SWAR tests: a byte < 0x20,
            // a '"', a '\\', or — for raw input — a byte >= 0x80).
            while i &+ 8 <= count {
                let v = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let quote = v ^ 0x2222_2222_2222_2222
                let slash = v ^ 0x5c5c_5c5c_5c5c_5c5c
                let special = ((v &- 0x2020_2020_2020_2020) & ~v)
                    | ((quote &- 0x0101_0101_0101_0101) & ~quote)
                    | ((slash &- 0x0101_0101_0101_0101) & ~slash)
                if (special & 0x8080_8080_8080_8080) | (v & highMask) != 0 { break }
                UnsafeMutableRawPointer(out).storeBytes(of: v, as: UInt64.self)
                out += 8; i &+= 8
            }
            if i >= count { break }
            let b = s[i]
            if b >= 0x20 && b != 0x22 && b != 0x5c && b < 0x80 { out.pointee = b; out += 1; i &+= 1; continue }
            if b >= 0x80 {
                if !validate { out.pointee = b; out += 1; i &+= 1; continue }
                let len = Self.validSequenceLength(src, at: i)
                if len > 0 {
                    for k in 0..<len { out[k] = s[i + k] }
                    out += len; i &+= len
                    continue
                }
                out[0] = 0xef; out[1] = 0xbf; out[2] = 0xbd; out += 3
                i &+= Self.invalidSkip(src, at: i)
                continue
            }
            out[0] = 0x5c
            switch b {
            case 0x22: out[1] = 0x22; out += 2
            case 0x5c: out[1] = 0x5c; out += 2
            case 0x0a: out[1] = 0x6e; out += 2
            case 0x0d: out[1] = 0x72; out += 2
            case 0x09: out[1] = 0x74; out += 2
            case 0x08: out[1] = 0x62; out += 2
            case 0x0c: out[1] = 0x66; out += 2
            default:
                out[1] = 0x75; out[2] = 0x30; out[3] = 0x30
                out[4] = Self.hex.utf8Start[Int(b >> 4)]; out[5] = Self.hex.utf8Start[Int(b & 15)]
                out += 6
            }
            i &+= 1
        }
        out.pointee = 0x22; out += 1
        buffer.advance(start.distance(to: out))
        needComma = true
    }

    /// Length of the well-formed UTF-8 sequence at `i` (Unicode Table 3-7), 0 if ill-formed.
    static func validSequenceLength(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let b0 = s[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xbf) -> Bool {
            i + k < s.count && s[i + k] >= lo && s[i + k] <= hi
        }
        switch b0 {
        case 0xc2...0xdf: return cont(1) ? 2 : 0
        case 0xe0: return cont(1, 0xa0) && cont(2) ? 3 : 0
        case 0xe1...0xec, 0xee...0xef: return cont(1) && cont(2) ? 3 : 0
        case 0xed: return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0
        case 0xf0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xf1...0xf3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xf4: return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    /// Bytes replaced by one U+FFFD: the lead byte plus the continuation bytes that were valid so far
    /// (Unicode's "maximal subpart"), at least 1.
    static func invalidSkip(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let b0 = s[i]
        let expected: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xbf
        switch b0 {
        case 0xc2...0xdf: expected = 2
        case 0xe0: expected = 3; lo = 0xa0
        case 0xed: expected = 3; hi = 0x9f
        case 0xe1...0xef: expected = 3
        case 0xf0: expected = 4; lo = 0x90
        case 0xf4: expected = 4; hi = 0x8f
        case 0xf1...0xf3: expected = 4
        default: return 1
        }
        var n = 1
        while n < expected, i + n < s.count, s[i + n] >= lo, s[i + n] <= hi {
            n += 1; lo = 0x80; hi = 0xbf
        }
        return n
    }
}
