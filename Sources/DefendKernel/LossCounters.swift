/// Records the kernel could not deliver (ring buffer full) by event type, and records
/// userspace could not decode.
public struct LossCounters: Sendable, Hashable {
    public enum EventType: UInt32, Sendable, CaseIterable, Hashable {
        case fork = 1, exec = 2, exit = 3, setsid = 4, file = 5, cgroupMkdir = 6, cgroupRmdir = 7
    }
    /// bpf_ringbuf_reserve failures, summed over CPUs.
    public var reserveFailures: [EventType: UInt64]
    /// Records rejected by `RecordDecoder` (short, unknown type, bad lengths).
    public var decodeErrors: UInt64
    /// Events dropped because the consumer of `Sensor.events()` fell behind its bounded buffer.
    public var streamDrops: UInt64

    public init(reserveFailures: [EventType: UInt64] = [:], decodeErrors: UInt64 = 0, streamDrops: UInt64 = 0) {
        self.reserveFailures = reserveFailures
        self.decodeErrors = decodeErrors
        self.streamDrops = streamDrops
    }

    public var totalReserveFailures: UInt64 { reserveFailures.values.reduce(0, &+) }
}
