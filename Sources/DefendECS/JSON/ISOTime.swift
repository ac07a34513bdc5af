/// ISO-8601 UTC timestamps with milliseconds, formatted by hand (days-to-civil conversion), so no
/// DateFormatter runs per event.
public enum ISOTime {
    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (no quotes).
    public static func append(unixNs: Int64, to out: inout [UInt8]) {
        var tmp = [UInt8](repeating: 0, count: 24)
        let n = tmp.withUnsafeMutableBufferPointer { write(unixNs: unixNs, to: $0.baseAddress!) }
        out.append(contentsOf: tmp[0..<n])
    }

    /// Writes the 24 bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ` at `p`; returns 24.
    @inline(__always)
    public static func write(unixNs: Int64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let (days, rem, ms) = split(unixNs: unixNs)
        let (y, m, d) = civil(days: days)
        let yy = max(0, min(9999, y))
        p[0] = digit(yy / 1000); p[1] = digit(yy / 100); p[2] = digit(yy / 10); p[3] = digit(yy)
        p[4] = 0x2d; p[5] = digit(m / 10); p[6] = digit(m); p[7] = 0x2d; p[8] = digit(d / 10); p[9] = digit(d)
        p[10] = 0x54
        let hh = rem / 3600, mm = rem % 3600 / 60, ss = rem % 60
        p[11] = digit(hh / 10); p[12] = digit(hh); p[13] = 0x3a; p[14] = digit(mm / 10); p[15] = digit(mm)
        p[16] = 0x3a; p[17] = digit(ss / 10); p[18] = digit(ss); p[19] = 0x2e
        p[20] = digit(ms / 100); p[21] = digit(ms / 10); p[22] = digit(ms); p[23] = 0x5a
        return 24
    }

    /// Same, reusing the date part when the day is the one formatted last.
    @inline(__always)
    static func write(unixNs: Int64, to p: UnsafeMutablePointer<UInt8>, cache: inout ByteBuffer.State) -> Int {
        let (days, rem, ms) = split(unixNs: unixNs)
        if days != cache.day {
            _ = write(unixNs: days * 86_400 * 1_000_000_000, to: p)
            cache.day = days
            cache.date = (UnsafeRawPointer(p).loadUnaligned(as: UInt64.self),
                          UnsafeRawPointer(p + 8).loadUnaligned(as: UInt16.self))
        } else {
            UnsafeMutableRawPointer(p).storeBytes(of: cache.date.0, as: UInt64.self)
            UnsafeMutableRawPointer(p + 8).storeBytes(of: cache.date.1, as: UInt16.self)
        }
        p[10] = 0x54
        let hh = rem / 3600, mm = rem % 3600 / 60, ss = rem % 60
        p[11] = digit(hh / 10); p[12] = digit(hh); p[13] = 0x3a; p[14] = digit(mm / 10); p[15] = digit(mm)
        p[16] = 0x3a; p[17] = digit(ss / 10); p[18] = digit(ss); p[19] = 0x2e
        p[20] = digit(ms / 100); p[21] = digit(ms / 10); p[22] = digit(ms); p[23] = 0x5a
        return 24
    }

    /// (days since the epoch, second of the day, millisecond), floored for times before 1970.
    @inline(__always)
    static func split(unixNs: Int64) -> (days: Int64, second: Int64, ms: Int64) {
        var secs = unixNs / 1_000_000_000
        var ms = (unixNs % 1_000_000_000) / 1_000_000
        if ms < 0 { ms += 1000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        return (days, rem, ms)
    }

    @inline(__always) private static func digit(_ v: Int64) -> UInt8 { UInt8(truncatingIfNeeded: v % 10) &+ 48 }

    public static func string(unixNs: Int64) -> String {
        var out: [UInt8] = []
        append(unixNs: unixNs, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (Hinnant's algorithm).
    static func civil(days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
