#if canImport(Glibc)
import Glibc
#endif
import CLibBPF

extension Sensor {
    /// Bytes the kernel wrote to the `events` ring buffer that user space has not consumed yet, and the
    /// buffer's size: the producer and consumer positions, read from read-only mappings of the map's
    /// first two pages (the layout of every BPF ring buffer). nil if they cannot be mapped.
    public func ringBufferFill() -> (pending: UInt64, capacity: UInt64)? {
        guard let fd = try? sensorObject.map("events").fd else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let consumer = mmap(nil, page, PROT_READ, MAP_SHARED, fd, 0), consumer != MAP_FAILED else { return nil }
        defer { munmap(consumer, page) }
        guard let producer = mmap(nil, page, PROT_READ, MAP_SHARED, fd, off_t(page)), producer != MAP_FAILED else { return nil }
        defer { munmap(producer, page) }
        let c = consumer.load(as: UInt64.self)
        let p = producer.load(as: UInt64.self)
        return (p >= c ? p - c : 0, UInt64(configuration.ringBufferBytes))
    }
}
