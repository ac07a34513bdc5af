import Foundation
import NIOCore
import Synchronization

/// One change of a cached resource, in the order the API server made them.
public enum ReflectorEvent<Object: KubernetesObject>: Sendable {
    case upsert(Object)
    case delete(Object)
    /// A complete list has been applied (after the first list and every relist).
    case synced
}

/// Timings of list/watch; the defaults follow client-go's reflector.
public struct ReflectorTiming: Sendable {
    /// Backoff after a failure: initial, ×2 per failure, capped; each delay gets up to 100 % jitter.
    public var initialBackoff: Duration = .milliseconds(800)
    public var maxBackoff: Duration = .seconds(30)
    /// A watch asks the server to end it after a random time in this range (then it is reopened from
    /// the last resource version, with no relist).
    public var watchTimeoutSeconds: ClosedRange<Int> = 300...600
    /// List page size (`limit`, then `continue`).
    public var pageSize = 500
    public init() {}
}

public struct ReflectorStatistics: Sendable, Hashable {
    public var lists = 0
    public var watches = 0
    public var expired = 0
    public var failures = 0
    public var events = 0
    public var bookmarks = 0
    /// Objects not cached because the cache was full (a bound that must never be reached on a node).
    public var droppedOverCapacity = 0
    /// Objects lacking uid/name (never seen from a real API server).
    public var malformed = 0
}

/// List then watch of one resource (client-go's reflector, reduced): a bounded cache keyed by UID,
/// the resource version of the last event seen, bookmarks to advance it, a relist on 410 Gone that
/// diffs the cache (objects that vanished meanwhile become deletes), and reconnection with backoff and
/// jitter. A dropped watch or a restarted API server resumes from the last resource version, so no
/// change is lost; if that version is too old the server says 410 and the relist catches up.
public final class Reflector<Object: KubernetesObject>: Sendable {
    public let resourcePath: String
    public let fieldSelector: String?
    public let capacity: Int
    public let timing: ReflectorTiming
    private let api: KubernetesAPI
    private let onEvent: @Sendable (ReflectorEvent<Object>) -> Void
    private let log: @Sendable (String) -> Void
    private let state = Mutex(State())

    struct State {
        var cache: [String: Object] = [:]
        var resourceVersion = ""
        var statistics = ReflectorStatistics()
    }

    /// `resourcePath` e.g. `/api/v1/pods`; `fieldSelector` e.g. `spec.nodeName=node-1`.
    public init(api: KubernetesAPI, resourcePath: String, fieldSelector: String? = nil, capacity: Int,
                timing: ReflectorTiming = ReflectorTiming(), log: @escaping @Sendable (String) -> Void,
                onEvent: @escaping @Sendable (ReflectorEvent<Object>) -> Void) {
        self.api = api; self.resourcePath = resourcePath; self.fieldSelector = fieldSelector
        self.capacity = capacity; self.timing = timing; self.log = log; self.onEvent = onEvent
    }

    public var statistics: ReflectorStatistics { state.withLock { $0.statistics } }
    public var resourceVersion: String { state.withLock { $0.resourceVersion } }
    public var objects: [Object] { state.withLock { Array($0.cache.values) } }

    /// Runs until the task is cancelled.
    public func run() async {
        var needList = true
        var failures = 0
        while !Task.isCancelled {
            do {
                if needList {
                    try await list()
                    needList = false
                }
                let started = ContinuousClock.now
                let received = try await watchOnce()
                // A normal end (the server's timeout): watch again from the last version. A watch that
                // closes at once with nothing in it counts as a failure (no busy loop).
                if received == 0 && ContinuousClock.now - started < .seconds(1) {
                    failures += 1
                    try await backoff(failures)
                } else {
                    failures = 0
                }
            } catch is CancellationError {
                return
            } catch let error as KubernetesAPIError where error.isExpired {
                state.withLock { $0.statistics.expired += 1 }
                log("\(resourcePath): resource version expired (410); listing again")
                needList = true
            } catch let error as WatchStreamError where error.status.isExpired {
                state.withLock { $0.statistics.expired += 1 }
                log("\(resourcePath): watch expired (410); listing again")
                needList = true
            } catch {
                // Stopping: the HTTP client reports the cancelled request as a transport error.
                if Task.isCancelled { return }
                failures += 1
                state.withLock { $0.statistics.failures += 1 }
                let what = (error as? WatchStreamError).map { "\($0.status)" } ?? "\(error)"
                log("\(resourcePath): \(what); retrying")
                do { try await backoff(failures) } catch { return }
            }
        }
    }

    private func backoff(_ failures: Int) async throws {
        var delay = timing.initialBackoff
        for _ in 1..<max(1, min(failures, 16)) where delay < timing.maxBackoff { delay *= 2 }
        delay = min(delay, timing.maxBackoff)
        let jittered = delay + delay * Double.random(in: 0..<1)
        try await Task.sleep(for: jittered)
    }

    private func query(_ items: [(String, String)]) -> String {
        var all = items
        if let fieldSelector { all.append(("fieldSelector", fieldSelector)) }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+,/?")
        return all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
            .joined(separator: "&")
    }

    /// A consistent (quorum) list, page by page, then the cache is replaced: new or changed objects
    /// are upserts, cached objects absent from the list are deletes.
    func list() async throws {
        var items: [Object] = []
        var continueToken: String?
        var listVersion = ""
        var malformed = 0
        repeat {
            var q = [("limit", String(timing.pageSize))]
            if let c = continueToken { q.append(("continue", c)) }
            let body = try await api.get(resourcePath + "?" + query(q))
            let page: WireList<Object.Wire>
            do { page = try JSONDecoder().decode(WireList<Object.Wire>.self, from: Data(body)) } catch {
                throw KubernetesAPIError.decode("\(resourcePath) list: \(error)")
            }
            for w in page.items ?? [] {
                if let o = Object(wire: w) { items.append(o) } else { malformed += 1 }
            }
            listVersion = page.metadata?.resourceVersion ?? listVersion
            continueToken = page.metadata?.continue.flatMap { $0.isEmpty ? nil : $0 }
        } while continueToken != nil
        var changes: [ReflectorEvent<Object>] = []
        state.withLock { s in
            var fresh: [String: Object] = [:]
            for o in items {
                guard fresh.count < capacity || fresh[o.uid] != nil else {
                    s.statistics.droppedOverCapacity += 1
                    continue
                }
                fresh[o.uid] = o
                if s.cache[o.uid] != o { changes.append(.upsert(o)) }
            }
            for (uid, old) in s.cache where fresh[uid] == nil { changes.append(.delete(old)) }
            s.cache = fresh
            s.resourceVersion = listVersion
            s.statistics.lists += 1
            s.statistics.malformed += malformed
        }
        for c in changes { onEvent(c) }
        onEvent(.synced)
    }

    private struct WireWatchEvent: Decodable {
        var type: String
        var object: Object.Wire?
    }
    private struct WireWatchError: Decodable {
        var type: String
        var object: WireStatus?
    }
    private struct WireBookmark: Decodable {
        struct Meta: Decodable { var resourceVersion: String? }
        struct Obj: Decodable { var metadata: Meta? }
        var type: String
        var object: Obj?
    }

    /// One watch from the last resource version; returns the number of events and bookmarks received.
    func watchOnce() async throws -> Int {
        let version = state.withLock { s in
            s.statistics.watches += 1
            return s.resourceVersion
        }
        let seconds = Int.random(in: timing.watchTimeoutSeconds)
        let path = resourcePath + "?" + query([("watch", "1"), ("resourceVersion", version),
                                               ("allowWatchBookmarks", "true"), ("timeoutSeconds", String(seconds))])
        var received = 0
        let decoder = JSONDecoder()
        try await api.watch(path, timeout: .seconds(Int64(seconds) + 30)) { line in
            let data = Data(line)
            let head: WireBookmark
            do { head = try decoder.decode(WireBookmark.self, from: data) } catch {
                throw KubernetesAPIError.decode("\(resourcePath) watch event: \(error)")
            }
            received += 1
            switch head.type {
            case "BOOKMARK":
                let v = head.object?.metadata?.resourceVersion ?? ""
                state.withLock { s in
                    s.statistics.bookmarks += 1
                    if !v.isEmpty { s.resourceVersion = v }
                }
            case "ERROR":
                let status = (try? decoder.decode(WireWatchError.self, from: data))?.object
                throw WatchStreamError(status: .status(code: status?.code ?? 500, reason: status?.reason ?? "",
                                                       message: status?.message ?? ""))
            case "ADDED", "MODIFIED", "DELETED":
                let event: WireWatchEvent
                do { event = try decoder.decode(WireWatchEvent.self, from: data) } catch {
                    throw KubernetesAPIError.decode("\(resourcePath) \(head.type) event: \(error)")
                }
                guard let wire = event.object, let object = Object(wire: wire) else {
                    state.withLock { $0.statistics.malformed += 1 }
                    return
                }
                let change: ReflectorEvent<Object>? = state.withLock { s in
                    s.statistics.events += 1
                    if !object.resourceVersion.isEmpty { s.resourceVersion = object.resourceVersion }
                    if head.type == "DELETED" {
                        let old = s.cache.removeValue(forKey: object.uid)
                        return .delete(old ?? object)
                    }
                    guard s.cache.count < capacity || s.cache[object.uid] != nil else {
                        s.statistics.droppedOverCapacity += 1
                        return nil
                    }
                    s.cache[object.uid] = object
                    return .upsert(object)
                }
                if let change { onEvent(change) }
            default:
                throw KubernetesAPIError.decode("\(resourcePath): unknown watch event type \(head.type)")
            }
        }
        return received
    }
}
