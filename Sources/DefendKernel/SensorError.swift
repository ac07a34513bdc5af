/// Why the sensor could not do what was asked. Messages name the object, program or map and
/// the kernel's errno text, plus the last libbpf log lines (verifier output) when relevant.
public enum SensorError: Error, Sendable, CustomStringConvertible, Equatable {
    case missingCapabilities([String])
    case objectOpen(object: String, errno: Int32)
    case objectLoad(object: String, errno: Int32, log: String)
    case missingMap(object: String, map: String)
    case mapUpdate(map: String, errno: Int32)
    case mapDelete(map: String, errno: Int32)
    case ringBuffer(errno: Int32)
    case poll(errno: Int32)
    case policyTooLarge(String)
    case closed
    case unsupportedKernel(String)

    public var description: String {
        switch self {
        case let .missingCapabilities(names):
            return "the kernel sensor cannot load BPF programs: the agent lacks \(names.joined(separator: " and ")) "
                + "(run it as root, or with CAP_BPF and CAP_PERFMON; see README, Operating the agent)"
        case let .objectOpen(object, errno):
            return "cannot open BPF object '\(object)': \(errnoText(errno))"
        case let .objectLoad(object, errno, log):
            return "cannot load BPF object '\(object)': \(errnoText(errno))" + (log.isEmpty ? "" : "\n\(log)")
        case let .missingMap(object, map):
            return "BPF object '\(object)' has no map '\(map)' (build/ABI mismatch)"
        case let .mapUpdate(map, errno):
            return "cannot update BPF map '\(map)': \(errnoText(errno))"
        case let .mapDelete(map, errno):
            return "cannot delete from BPF map '\(map)': \(errnoText(errno))"
        case let .ringBuffer(errno):
            return "cannot create the ring-buffer reader: \(errnoText(errno))"
        case let .poll(errno):
            return "ring-buffer poll failed: \(errnoText(errno))"
        case let .policyTooLarge(what):
            return "policy does not fit the kernel tables: \(what)"
        case .closed:
            return "the sensor is closed"
        case let .unsupportedKernel(what):
            return "this kernel cannot run the sensor: \(what)"
        }
    }
}
