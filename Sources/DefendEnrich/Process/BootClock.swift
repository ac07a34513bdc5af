import Glibc

/// Converts kernel boot-time nanoseconds (CLOCK_BOOTTIME, what BPF and /proc report) to wall-clock time.
/// The offset is measured once: suspend/resume and NTP steps after start shift it slightly, which is
/// acceptable for event timestamps and keeps per-event conversion to one addition.
public struct BootClock: Sendable, Hashable {
    /// Unix time (ns) at which CLOCK_BOOTTIME was zero.
    public var bootEpochNs: Int64

    public init(bootEpochNs: Int64) { self.bootEpochNs = bootEpochNs }

    /// Measures the offset between CLOCK_REALTIME and CLOCK_BOOTTIME now.
    public static func system() -> BootClock {
        let real = clockNs(CLOCK_REALTIME)
        let boot = clockNs(CLOCK_BOOTTIME)
        return BootClock(bootEpochNs: real - boot)
    }

    /// Unix nanoseconds for a boot-time instant.
    @inline(__always)
    public func unixNs(bootNs: UInt64) -> Int64 { bootEpochNs &+ Int64(truncatingIfNeeded: bootNs) }

    /// Whole Unix seconds for a boot-time instant (the `process.entity_id` component).
    public func unixSeconds(bootNs: UInt64) -> Int64 {
        let ns = unixNs(bootNs: bootNs)
        return ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
    }

    /// Current CLOCK_BOOTTIME in ns.
    public static func nowBootNs() -> UInt64 { UInt64(max(0, clockNs(CLOCK_BOOTTIME))) }
    /// Current CLOCK_REALTIME in ns.
    public static func nowUnixNs() -> Int64 { clockNs(CLOCK_REALTIME) }

    static func clockNs(_ id: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
