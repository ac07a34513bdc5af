import Foundation
import Synchronization

/// What the watcher tells the agent, in order.
public enum KubernetesUpdate: Sendable, Hashable {
    /// A pod of this node appeared or changed (labels, IP, container ids...).
    case pod(PodMetadata)
    case podDeleted(uid: String)
    /// The cluster id: UID of the `kube-system` namespace.
    case clusterID(String)
    /// The node's pods have been listed completely (after the first list and every relist).
    case podsSynced
}

/// Settings of the Kubernetes metadata source (flags `--kubeconfig`, `--node-name`, `--cluster-name`).
public struct KubernetesSettings: Sendable, Hashable {
    /// Watch the API server (false: only `clusterName` is used).
    public var watch = true
    /// kubeconfig file; nil = `KUBECONFIG`, else in-cluster.
    public var kubeconfigPath: String?
    /// Node whose pods are watched; nil = `NODE_NAME`, else the host name.
    public var nodeName: String?
    /// `orchestrator.cluster.name` and `kubernetesClusterName` (Kubernetes has no API for it).
    public var clusterName: String?
    /// Bound on cached pods of this node (the kubelet runs at most a few hundred).
    public var maxPods = 4096
    /// Bound on cached namespaces.
    public var maxNamespaces = 16384
    public init() {}

    /// The node name in force: the setting, else `NODE_NAME` (downward API), else the host name.
    public func resolvedNodeName(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let n = nodeName, !n.isEmpty { return n }
        if let n = environment["NODE_NAME"], !n.isEmpty { return n }
        return ProcessInfo.processInfo.hostName
    }

    /// The client configuration in force: `kubeconfigPath`, else `KUBECONFIG` (its first file), else
    /// in-cluster.
    public func clientConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(KubernetesConfigurationError) -> KubernetesClientConfiguration {
        if let path = kubeconfigPath { return try .kubeconfig(path: path) }
        if let env = environment["KUBECONFIG"], let first = env.split(separator: ":").first {
            return try .kubeconfig(path: String(first))
        }
        return try .inCluster(environment: environment)
    }
}

/// Lists and watches this node's pods (`fieldSelector=spec.nodeName=<node>`) and the namespaces (for
/// the cluster id), on Swift concurrency tasks, and hands every change to `onUpdate` (called from
/// those tasks: the receiver must be thread-safe, e.g. the agent's inbox).
public final class KubernetesWatcher: Sendable {
    public let nodeName: String
    public let api: KubernetesAPI
    private let pods: Reflector<PodMetadata>
    private let namespaces: Reflector<NamespaceMetadata>
    private let tasks = Mutex<[Task<Void, Never>]>([])

    public init(api: KubernetesAPI, nodeName: String, settings: KubernetesSettings = KubernetesSettings(),
                timing: ReflectorTiming = ReflectorTiming(), log: @escaping @Sendable (String) -> Void,
                onUpdate: @escaping @Sendable (KubernetesUpdate) -> Void) {
        self.api = api
        self.nodeName = nodeName
        pods = Reflector(api: api, resourcePath: "/api/v1/pods", fieldSelector: "spec.nodeName=\(nodeName)",
                         capacity: settings.maxPods, timing: timing, log: log) { event in
            switch event {
            case .upsert(let pod): onUpdate(.pod(pod))
            case .delete(let pod): onUpdate(.podDeleted(uid: pod.uid))
            case .synced: onUpdate(.podsSynced)
            }
        }
        namespaces = Reflector(api: api, resourcePath: "/api/v1/namespaces", capacity: settings.maxNamespaces,
                               timing: timing, log: log) { event in
            if case .upsert(let ns) = event, ns.name == "kube-system" { onUpdate(.clusterID(ns.uid)) }
        }
    }

    public func start() {
        let p = pods, n = namespaces
        tasks.withLock { t in
            guard t.isEmpty else { return }
            t = [Task { await p.run() }, Task { await n.run() }]
        }
    }

    /// Cancels the watches and waits for them to end, then closes the HTTP client.
    public func stop() async {
        let running = tasks.withLock { t in
            defer { t = [] }
            return t
        }
        for t in running { t.cancel() }
        for t in running { await t.value }
        await api.shutdown()
    }

    /// Synchronous stop for the agent's (non-async) shutdown path.
    public func stopBlocking() {
        let done = DispatchSemaphore(value: 0)
        Task { [self] in
            await stop()
            done.signal()
        }
        _ = done.wait(timeout: .now() + 10)
    }

    /// The complete cached state (for a receiver that lost updates and resynchronises).
    public var cachedPods: [PodMetadata] { pods.objects }
    public var cachedClusterID: String? { namespaces.objects.first { $0.name == "kube-system" }?.uid }

    public var podStatistics: ReflectorStatistics { pods.statistics }
    public var namespaceStatistics: ReflectorStatistics { namespaces.statistics }
}
