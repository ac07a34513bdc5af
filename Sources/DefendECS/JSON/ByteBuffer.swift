/// A growable byte buffer written through a raw pointer: the writer reserves room once per value
/// and then stores bytes without per-byte capacity or uniqueness checks (what `[UInt8].append` costs).
/// The mutable state sits behind a `let` pointer so writes need no dynamic exclusivity checks.
public final class ByteBuffer {
    @usableFromInline struct State {
        var base: UnsafeMutablePointer<UInt8>
        var count: Int
        var capacity: Int
        /// Last day formatted by `ISOTime` and its "YYYY-MM-DD" (timestamps of a run share few days).
        var day: Int64 = .min
        var date: (UInt64, UInt16) = (0, 0)
    }
    @usableFromInline let state: UnsafeMutablePointer<State>

    public init(capacity: Int = 16 * 1024) {
        let cap = max(64, capacity)
        state = .allocate(capacity: 1)
        state.initialize(to: State(base: .allocate(capacity: cap), count: 0, capacity: cap))
    }

    deinit {
        state.pointee.base.deallocate()
        state.deallocate()
    }

    public var count: Int { state.pointee.count }

    @inline(__always)
    func reserve(_ extra: Int) {
        if state.pointee.count &+ extra > state.pointee.capacity { grow(state.pointee.count + extra) }
    }

    private func grow(_ needed: Int) {
        var newCapacity = state.pointee.capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        p.update(from: state.pointee.base, count: state.pointee.count)
        state.pointee.base.deallocate()
        state.pointee.base = p
        state.pointee.capacity = newCapacity
    }

    /// Where the next byte goes (valid for `reserve`d bytes).
    @inline(__always) var cursor: UnsafeMutablePointer<UInt8> { state.pointee.base + state.pointee.count }
    @inline(__always) func advance(_ n: Int) { state.pointee.count &+= n }

    /// Store without a capacity check (after `reserve`).
    @inline(__always) func put(_ b: UInt8) {
        let s = state
        s.pointee.base[s.pointee.count] = b
        s.pointee.count &+= 1
    }

    @inline(__always) func append(_ b: UInt8) { reserve(1); put(b) }

    @inline(__always)
    func append(_ src: UnsafeBufferPointer<UInt8>) {
        guard let p = src.baseAddress, src.count > 0 else { return }
        reserve(src.count)
        cursor.update(from: p, count: src.count)
        advance(src.count)
    }

    func append(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { append($0) } }

    public func removeAll() { state.pointee.count = 0 }

    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: state.pointee.base, count: state.pointee.count)) }

    /// Appends everything written to `out` with one copy.
    public func copy(into out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: state.pointee.base, count: state.pointee.count))
    }
}
