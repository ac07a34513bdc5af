import DefendKubernetes
import Synchronization

/// Messages other threads hand to the agent loop (the only thread that touches container state).
enum AgentMessage: Sendable {
    case kubernetes(KubernetesUpdate)
}

/// A bounded, thread-safe inbox for the agent loop. Producers never block: a message that does not
/// fit is dropped, counted, and the inbox is marked `overflowed`, which tells the loop to resynchronise
/// from the producer's complete state (the Kubernetes watcher's cache) so nothing stays lost.
final class AgentInbox: Sendable {
    let capacity: Int
    private struct State {
        var messages: [AgentMessage] = []
        var head = 0
        var overflowed = false
        var dropped: UInt64 = 0
    }
    private let state = Mutex(State())

    init(capacity: Int = 65536) { self.capacity = capacity }

    /// Enqueues; false when full (dropped and counted).
    @discardableResult
    func post(_ message: AgentMessage) -> Bool {
        state.withLock { s in
            guard s.messages.count - s.head < capacity else {
                s.overflowed = true
                s.dropped += 1
                return false
            }
            s.messages.append(message)
            return true
        }
    }

    /// Takes up to `max` messages in order, and whether messages were dropped since the last call.
    func take(max: Int = 4096) -> (messages: [AgentMessage], overflowed: Bool) {
        state.withLock { s in
            let end = min(s.messages.count, s.head + max)
            let batch = Array(s.messages[s.head..<end])
            s.head = end
            if s.head == s.messages.count {
                s.messages.removeAll(keepingCapacity: s.messages.count <= 4096)
                s.head = 0
            } else if s.head > 4096 {
                s.messages.removeFirst(s.head)
                s.head = 0
            }
            let o = s.overflowed
            s.overflowed = false
            return (batch, o)
        }
    }

    var dropped: UInt64 { state.withLock { $0.dropped } }
    var count: Int { state.withLock { $0.messages.count - $0.head } }
}
