import CLibBPF
import DefendEvents
import Glibc
import Synchronization

/// The single reader of the `events` ring buffer. libbpf calls a C trampoline per record; the
/// trampoline finds this object through `ctx` (Unmanaged) and hands the decoded event to the
/// handler of the poll in progress. Only one poll runs at a time (`pollLock`).
final class RingBufferReader: @unchecked Sendable {
    private var rb: OpaquePointer?
    private var handler: ((KernelEvent) -> Void)?
    private let pollLock = Mutex<Void>(())
    let decodeErrors = Atomic<UInt64>(0)

    init(mapFD: Int32) throws(SensorError) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        guard let rb = ring_buffer__new(mapFD, RingBufferReader.trampoline, ctx, nil) else {
            throw .ringBuffer(errno: errno)
        }
        self.rb = rb
    }

    private static let trampoline: ring_buffer_sample_fn = { ctx, data, size in
        guard let ctx, let data else { return 0 }
        let reader = Unmanaged<RingBufferReader>.fromOpaque(ctx).takeUnretainedValue()
        reader.deliver(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    private func deliver(_ raw: UnsafeRawBufferPointer) {
        do {
            let event = try RecordDecoder.decode(raw)
            handler?(event)
        } catch {
            decodeErrors.add(1, ordering: .relaxed)
        }
    }

    /// Waits up to `timeoutMs` for records and delivers them; returns how many were consumed.
    func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int {
        let result: Int32 = pollLock.withLock { _ in
            guard let rb else { return -EBADF }
            return withoutActuallyEscaping(handler) { h in
                self.handler = h
                defer { self.handler = nil }
                // Records are submitted mostly without wakeups (see submit() in defend_common.h):
                // after the wait, drain whatever is pending.
                let woke = ring_buffer__poll(rb, timeoutMs)
                if woke < 0 { return woke }
                let drained = ring_buffer__consume(rb)
                return drained < 0 ? drained : woke + drained
            }
        }
        if result == -EINTR { return 0 }
        if result == -EBADF { throw .closed }
        if result < 0 { throw .poll(errno: -result) }
        return Int(result)
    }

    func close() {
        pollLock.withLock { _ in
            if let rb { ring_buffer__free(rb) }
            rb = nil
        }
    }
}
