import Glibc

/// Which build of the BPF objects to load (see bpf/defend_loop.h).
public enum BPFObjectVariant: String, Sendable, CaseIterable {
    /// Probe the kernel: `loop` when it has the bpf_loop helper, else `bounded`.
    case auto
    /// bpf_loop (Linux 5.17+).
    case loop
    /// Bounded loops over global functions (Linux 5.10+).
    case bounded
}

extension BPFObjectVariant {
    /// $DEFEND_BPF_VARIANT (auto, loop, bounded), else auto.
    public static var fromEnvironment: BPFObjectVariant {
        getenv("DEFEND_BPF_VARIANT").flatMap { BPFObjectVariant(rawValue: String(cString: $0)) } ?? .auto
    }
}

/// How the sensor is started.
public struct SensorConfiguration: Sendable {
    /// Ring buffer size in bytes (power of two, multiple of the page size; rounded up).
    public var ringBufferBytes: Int
    /// Send fork/exec/exit/setsid records before any policy is applied (the process tree needs
    /// them). Each applied `KernelTables.processTelemetry` replaces it.
    public var processTelemetry: Bool
    /// Try to load the BPF-LSM half (file events and blocking). Off: tracepoints only.
    public var enableLSM: Bool
    /// Mount tracefs at /sys/kernel/tracing when it is missing (needed by the setsid tracepoint).
    public var mountTracefsIfMissing: Bool
    /// Object build to load; the default comes from $DEFEND_BPF_VARIANT (auto, loop, bounded), else auto.
    public var objectVariant: BPFObjectVariant
    /// Attach libbpf's log (verifier output) to load errors; default from $DEFEND_BPF_LOG=1.
    public var libbpfLog: Bool

    public init(ringBufferBytes: Int = 8 << 20, processTelemetry: Bool = true, enableLSM: Bool = true,
                mountTracefsIfMissing: Bool = true,
                objectVariant: BPFObjectVariant = .fromEnvironment,
                libbpfLog: Bool = SensorConfiguration.libbpfLogFromEnvironment) {
        self.ringBufferBytes = ringBufferBytes
        self.processTelemetry = processTelemetry
        self.enableLSM = enableLSM
        self.mountTracefsIfMissing = mountTracefsIfMissing
        self.objectVariant = objectVariant
        self.libbpfLog = libbpfLog
    }

    /// $DEFEND_BPF_LOG=1.
    public static var libbpfLogFromEnvironment: Bool {
        getenv("DEFEND_BPF_LOG").map { String(cString: $0) == "1" } ?? false
    }

    /// The ring buffer size the kernel accepts: a power of two of at least one page.
    var effectiveRingBufferBytes: UInt32 {
        var size = 4096
        while size < ringBufferBytes && size < (1 << 30) { size <<= 1 }
        return UInt32(size)
    }
}
