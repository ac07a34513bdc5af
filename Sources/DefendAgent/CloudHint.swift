#if canImport(Glibc)
import Glibc
#endif

/// Decides, from local firmware (DMI) strings only, whether the node runs on a cloud whose instance
/// metadata service is worth asking. Off a cloud no metadata request is ever sent.
enum CloudHint {
    enum Provider: String { case aws, gcp, azure }

    static func detect(dmiRoot: String = "/sys/class/dmi/id") -> Provider? {
        let fields = ["sys_vendor", "product_name", "bios_vendor", "bios_version", "board_vendor", "chassis_asset_tag"]
        let text = fields.compactMap { readSmall(dmiRoot + "/" + $0) }.joined(separator: "\n").lowercased()
        if text.contains("amazon") || text.contains("ec2") { return .aws }
        if text.contains("google") { return .gcp }
        if text.contains("microsoft") || text.contains("7783-7084-3265-9085-8269-3286-77") { return .azure }
        return nil
    }

    private static func readSmall(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        return String(decoding: buf[..<n], as: UTF8.self)
    }
}
