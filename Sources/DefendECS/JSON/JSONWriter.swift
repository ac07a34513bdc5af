/// A hand-written JSON writer appending into a reusable byte buffer. No Foundation, no allocation per
/// value beyond buffer growth. The caller writes keys and values in order; commas are inserted here.
///
/// Strings: `"` `\` and control characters are escaped (`\n` `\r` `\t` `\b` `\f`, others `\u00XX`);
/// raw byte input is validated and each invalid UTF-8 sequence becomes U+FFFD; every string is cut at
/// `maxStringBytes` (on a character boundary).
public struct JSONWriter {
    public var bytes: [UInt8]
    /// Longest string value written, in bytes of UTF-8 (longer ones are cut).
    public var maxStringBytes: Int
    private var needComma = false

    public init(bytes: [UInt8] = [], maxStringBytes: Int = 8192) {
        self.bytes = bytes
        self.maxStringBytes = maxStringBytes
    }

    // MARK: structure

    @inline(__always) public mutating func beginObject() { comma(); bytes.append(0x7b); needComma = false }
    @inline(__always) public mutating func endObject() { bytes.append(0x7d); needComma = true }
    @inline(__always) public mutating func beginArray() { comma(); bytes.append(0x5b); needComma = false }
    @inline(__always) public mutating func endArray() { bytes.append(0x5d); needComma = true }
    /// Ends a line of NDJSON and resets the comma state for the next document.
    @inline(__always) public mutating func newline() { bytes.append(0x0a); needComma = false }

    /// Writes `"key":` (keys are our own ASCII literals: not escaped).
    @inline(__always)
    public mutating func key(_ k: StaticString) {
        comma()
        bytes.append(0x22)
        k.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0x22); bytes.append(0x3a)
        needComma = false
    }

    /// `"key":{` — begins a nested object under `key`.
    @inline(__always) public mutating func object(_ k: StaticString) { key(k); bytes.append(0x7b); needComma = false }
    @inline(__always) public mutating func array(_ k: StaticString) { key(k); bytes.append(0x5b); needComma = false }

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
    public mutating func rawString(_ s: StaticString) {
        comma()
        bytes.append(0x22)
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0x22)
        needComma = true
    }

    /// Bytes that are already a complete JSON value (e.g. a precomputed fragment).
    public mutating func rawValue(_ fragment: [UInt8]) {
        comma()
        bytes.append(contentsOf: fragment)
        needComma = true
    }

    /// Fields (`"k":v,...`) precomputed without the surrounding braces, appended inside the current object.
    public mutating func rawMembers(_ fragment: [UInt8]) {
        guard !fragment.isEmpty else { return }
        comma()
        bytes.append(contentsOf: fragment)
        needComma = true
    }

    public mutating func bool(_ v: Bool) {
        comma()
        if v { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6c, 0x73, 0x65]) }
        needComma = true
    }

    public mutating func int(_ v: Int64) {
        comma()
        if v < 0 { bytes.append(0x2d) }
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
        bytes.append(0x22)
        appendDigits(v)
        bytes.append(0x22)
        needComma = true
    }

    /// `"YYYY-MM-DDTHH:MM:SS.mmmZ"` for Unix nanoseconds.
    public mutating func timestamp(unixNs: Int64) {
        comma()
        bytes.append(0x22)
        ISOTime.append(unixNs: unixNs, to: &bytes)
        bytes.append(0x22)
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

    @inline(__always) private mutating func comma() { if needComma { bytes.append(0x2c) } }

    @inline(__always)
    mutating func appendDigits(_ value: UInt64) {
        if value < 10 { bytes.append(UInt8(truncatingIfNeeded: value) &+ 48); return }
        var n = 0
        var v = value
        while v > 0 { n += 1; v /= 10 }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0x30, count: n))
        v = value
        bytes.withUnsafeMutableBufferPointer { buf in
            var i = start + n - 1
            while v > 0 { buf[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48; v /= 10; i -= 1 }
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ input: UnsafeBufferPointer<UInt8>, validate: Bool) {
        bytes.append(0x22)
        var src = input
        if src.count > maxStringBytes {
            var cut = maxStringBytes
            // back off to a character boundary (never split a UTF-8 sequence)
            while cut > 0, src[cut] & 0xc0 == 0x80 { cut -= 1 }
            src = UnsafeBufferPointer(rebasing: src[0..<cut])
        }
        let count = src.count
        var i = 0
        var runStart = 0
        while i < count {
            let b = src[i]
            if b >= 0x20 && b != 0x22 && b != 0x5c && b < 0x80 { i += 1; continue }
            if b >= 0x80 {
                if !validate { i += 1; continue }
                let len = Self.validSequenceLength(src, at: i)
                if len > 0 { i += len; continue }
                flush(src, runStart, i)
                bytes.append(contentsOf: [0xef, 0xbf, 0xbd])
                i += Self.invalidSkip(src, at: i)
                runStart = i
                continue
            }
            flush(src, runStart, i)
            switch b {
            case 0x22: bytes.append(0x5c); bytes.append(0x22)
            case 0x5c: bytes.append(0x5c); bytes.append(0x5c)
            case 0x0a: bytes.append(0x5c); bytes.append(0x6e)
            case 0x0d: bytes.append(0x5c); bytes.append(0x72)
            case 0x09: bytes.append(0x5c); bytes.append(0x74)
            case 0x08: bytes.append(0x5c); bytes.append(0x62)
            case 0x0c: bytes.append(0x5c); bytes.append(0x66)
            default:
                bytes.append(contentsOf: [0x5c, 0x75, 0x30, 0x30])
                bytes.append(Self.hex[Int(b >> 4)]); bytes.append(Self.hex[Int(b & 15)])
            }
            i += 1
            runStart = i
        }
        flush(src, runStart, count)
        bytes.append(0x22)
        needComma = true
    }

    @inline(__always)
    private mutating func flush(_ src: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
        if to > from { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: src[from..<to])) }
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
    /// ("maximal subpart" practice), at least 1.
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
