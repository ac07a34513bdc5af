/// `process.entity_id` = base64("<agent.id>-<pid>-<process start, unix seconds>"), as D4C writes it.
public enum EntityID {
    public static func make(agentID: String, pid: Int32, startUnixSeconds: Int64) -> String {
        // "<agent>-<pid>-<secs>" assembled in a stack buffer, then base64-encoded straight into the String.
        var agent = agentID
        return agent.withUTF8 { a in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: a.count + 48) { raw in
                guard let p = raw.baseAddress else { return "" }
                var n = 0
                if let ab = a.baseAddress { p.update(from: ab, count: a.count); n = a.count }
                p[n] = UInt8(ascii: "-"); n += 1
                n += writeDecimal(Int64(pid), to: p + n)
                p[n] = UInt8(ascii: "-"); n += 1
                n += writeDecimal(startUnixSeconds, to: p + n)
                return base64(UnsafeBufferPointer(start: p, count: n))
            }
        }
    }

    private static func writeDecimal(_ value: Int64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        if value < 0 { p[0] = UInt8(ascii: "-"); n = 1 }
        var v = value.magnitude
        var digits = 0
        var t = v
        repeat { digits += 1; t /= 10 } while t > 0
        var i = n + digits - 1
        repeat { p[i] = UInt8(v % 10) + 48; v /= 10; i -= 1 } while v > 0
        return n + digits
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
        bytes.withUnsafeBufferPointer { base64($0) }
    }

    static func base64(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let outCount = (bytes.count + 2) / 3 * 4
        return String(unsafeUninitializedCapacity: outCount) { out in
            let table: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            let t = table.utf8Start
            var i = 0, o = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out[o] = t[Int(n >> 18 & 63)]; out[o + 1] = t[Int(n >> 12 & 63)]
                out[o + 2] = t[Int(n >> 6 & 63)]; out[o + 3] = t[Int(n & 63)]
                i += 3; o += 4
            }
            let rest = bytes.count - i
            if rest > 0 {
                let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                out[o] = t[Int(n >> 18 & 63)]; out[o + 1] = t[Int(n >> 12 & 63)]
                out[o + 2] = rest == 2 ? t[Int(n >> 6 & 63)] : 61
                out[o + 3] = 61
                o += 4
            }
            return o
        }
    }
}
