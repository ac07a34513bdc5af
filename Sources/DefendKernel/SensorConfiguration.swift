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

    public init(ringBufferBytes: Int = 8 << 20, processTelemetry: Bool = true, enableLSM: Bool = true,
                mountTracefsIfMissing: Bool = true) {
        self.ringBufferBytes = ringBufferBytes
        self.processTelemetry = processTelemetry
        self.enableLSM = enableLSM
        self.mountTracefsIfMissing = mountTracefsIfMissing
    }

    /// The ring buffer size the kernel accepts: a power of two of at least one page.
    var effectiveRingBufferBytes: UInt32 {
        var size = 4096
        while size < ringBufferBytes && size < (1 << 30) { size <<= 1 }
        return UInt32(size)
    }
}
