/// ISO-8601 UTC timestamps with milliseconds, formatted by hand (days-to-civil conversion), so no
/// DateFormatter runs per event.
public enum ISOTime {
    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (no quotes).
    public static func append(unixNs: Int64, to out: inout [UInt8]) {
        var secs = unixNs / 1_000_000_000
        var ms = (unixNs % 1_000_000_000) / 1_000_000
        if ms < 0 { ms += 1000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civil(days: days)
        digits(y, 4, &out); out.append(0x2d); digits(m, 2, &out); out.append(0x2d); digits(d, 2, &out)
        out.append(0x54)
        digits(rem / 3600, 2, &out); out.append(0x3a); digits(rem % 3600 / 60, 2, &out); out.append(0x3a)
        digits(rem % 60, 2, &out); out.append(0x2e); digits(ms, 3, &out); out.append(0x5a)
    }

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

    @inline(__always)
    private static func digits(_ v: Int64, _ width: Int, _ out: inout [UInt8]) {
        var p: Int64 = 1
        for _ in 1..<width { p *= 10 }
        var v = max(0, v) % (p * 10)
        while p > 0 { out.append(UInt8(truncatingIfNeeded: v / p) + 48); v %= p; p /= 10 }
    }
}
