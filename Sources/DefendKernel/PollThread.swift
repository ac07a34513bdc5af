import Glibc

/// A detached OS thread for blocking ring-buffer polls (kept off Swift's cooperative pool,
/// which has one thread per core).
enum PollThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping @Sendable () -> Void) {
        let ctx = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            guard let arg else { return nil }
            let body = Unmanaged<Body>.fromOpaque(arg).takeRetainedValue()
            body.run()
            return nil
        }, ctx)
        if rc == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Body>.fromOpaque(ctx).release()
            body()
        }
    }
}
