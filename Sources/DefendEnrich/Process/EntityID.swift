/// `process.entity_id` = base64("<agent.id>-<pid>-<process start, unix seconds>"), as D4C writes it.
public enum EntityID {
    public static func make(agentID: String, pid: Int32, startUnixSeconds: Int64) -> String {
        var raw = Array(agentID.utf8)
        raw.append(UInt8(ascii: "-"))
        appendDecimal(Int64(pid), to: &raw)
        raw.append(UInt8(ascii: "-"))
        appendDecimal(startUnixSeconds, to: &raw)
        return base64(raw)
    }

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        var digits: [UInt8] = []
        repeat { digits.append(UInt8(v % 10) + 48); v /= 10 } while v > 0
        out.append(contentsOf: digits.reversed())
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding.
    public static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(61); out.append(61)
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(61)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
