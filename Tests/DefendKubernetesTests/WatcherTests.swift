import Foundation
import Synchronization
import Testing
@testable import DefendKubernetes

/// The watcher against `FakeAPIServer` over TLS with a test-made CA.
@Suite(.serialized) struct WatcherTests {
    struct Fixture {
        let pki: TestPKI
        let server: FakeAPIServer
        let tokenFile: String
        let log = UpdateLog()
        let watcher: KubernetesWatcher

        init(splitEvents: Int = 1, clientCertificate: Bool = false) throws {
            pki = try TestPKI()
            server = FakeAPIServer(tls: try pki.serverContext(requireClientCertificate: clientCertificate))
            server.splitEventsInto = splitEvents
            try server.start()
            server.addNamespace("default", uid: "ns-default")
            server.addNamespace("kube-system", uid: "11111111-2222-3333-4444-555555555555")
            server.putPod(uid: "pod-a", name: "web-a", labels: ["app": "web"], ip: "10.1.0.5", containerIDs: ["c0ffee"])
            server.putPod(uid: "pod-b", name: "db-b", namespace: "data", labels: ["app": "db"])
            server.putPod(uid: "pod-c", name: "web-c", labels: ["app": "web"])
            server.putPod(uid: "pod-elsewhere", name: "other", node: "node-2")
            tokenFile = pki.directory + "/token"
            try "token-1".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            var config = KubernetesClientConfiguration(server: server.server, certificateAuthorityPEM: pki.caPEM,
                                                       token: TokenSource(file: tokenFile, refreshInterval: .seconds(3600)),
                                                       origin: "test")
            if clientCertificate {
                config.clientCertificatePEM = pki.read("client.crt")
                config.clientKeyPEM = pki.read("client.key")
            }
            let api = try KubernetesAPI(configuration: config)
            let log = self.log
            watcher = KubernetesWatcher(api: api, nodeName: "node-1", timing: fastTiming(), log: { _ in }) { log.append($0) }
        }

        func stop() async {
            await watcher.stop()
            server.shutdown()
            pki.remove()
        }
    }

    @Test func listsThisNodesPodsAndTheClusterID() async throws {
        let f = try Fixture()
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.log.all.contains(.clusterID("11111111-2222-3333-4444-555555555555")) })
        let a = try #require(f.log.pods("pod-a").last)
        #expect(a.name == "web-a" && a.namespace == "default" && a.labels == ["app": "web"] && a.ip == "10.1.0.5")
        #expect(a.ownerKind == "ReplicaSet" && a.containerIDs == ["c0ffee"] && a.nodeName == "node-1")
        #expect(f.log.pods("pod-b").last?.namespace == "data")
        #expect(f.log.pods("pod-elsewhere").isEmpty, "another node's pod")
        // every pod request carries the node selector, and the list was paged (page size 2, 3 pods)
        let podRequests = f.server.requests.filter { $0.path == "/api/v1/pods" }
        #expect(podRequests.allSatisfy { $0.query["fieldSelector"] == "spec.nodeName=node-1" })
        #expect(podRequests.contains { $0.query["continue"] != nil })
        // The watch follows the list (podsSynced is posted in between): wait for it.
        #expect(await eventually { f.server.requests.contains {
            $0.path == "/api/v1/pods" && $0.query["watch"] == "1" && $0.query["allowWatchBookmarks"] == "true"
        } })
        await f.stop()
    }

    @Test(arguments: [1, 5])
    func followsLabelChangesAndDeletes(splitEvents: Int) async throws {
        let f = try Fixture(splitEvents: splitEvents)
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.server.watcherCount == 2 })
        f.server.putPod(uid: "pod-a", name: "web-a", labels: ["app": "web", "tier": "front"], ip: "10.1.0.5")
        #expect(await eventually { f.log.pods("pod-a").last?.labels["tier"] == "front" })
        f.server.putPod(uid: "pod-a", name: "web-a", labels: [:], ip: "10.1.0.5")
        #expect(await eventually { f.log.pods("pod-a").last?.labels.isEmpty == true })
        f.server.putPod(uid: "pod-new", name: "new", annotations: ["note": "a:b"])
        #expect(await eventually { f.log.pods("pod-new").last?.annotations == ["note": "a:b"] })
        f.server.deletePod(uid: "pod-c")
        #expect(await eventually { f.log.deleted("pod-c") })
        #expect(f.watcher.podStatistics.lists == 1, "no relist needed")
        await f.stop()
    }

    @Test func bookmarksAdvanceTheResumeVersion() async throws {
        let f = try Fixture()
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.server.watcherCount == 2 })
        f.server.addNamespace("unrelated", uid: "ns-x")  // moves the version; no pod event
        f.server.bookmark()
        let rv = String(f.server.currentRV)
        #expect(await eventually { f.watcher.podStatistics.bookmarks >= 1 })
        f.server.dropWatches()
        #expect(await eventually {
            f.server.requests.contains { $0.path == "/api/v1/pods" && $0.query["watch"] == "1" && $0.query["resourceVersion"] == rv }
        })
        #expect(f.watcher.podStatistics.lists == 1)
        await f.stop()
    }

    @Test func droppedWatchLosesNoUpdate() async throws {
        let f = try Fixture()
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.server.watcherCount == 2 })
        // Changes made while no watch is open are replayed from the resume version.
        f.server.dropWatches()
        f.server.putPod(uid: "pod-b", name: "db-b", namespace: "data", labels: ["app": "db", "x": "1"])
        f.server.deletePod(uid: "pod-c")
        #expect(await eventually { f.log.pods("pod-b").last?.labels["x"] == "1" && f.log.deleted("pod-c") })
        #expect(f.watcher.podStatistics.lists == 1, "resumed without a relist")
        await f.stop()
    }

    @Test func restartedServerLosesNoUpdate() async throws {
        let f = try Fixture()
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.server.watcherCount == 2 })
        f.server.stop()
        f.server.putPod(uid: "pod-a", name: "web-a", labels: ["app": "web", "restarted": "yes"])
        try await Task.sleep(for: .milliseconds(300))  // the client fails to reconnect at least once
        try f.server.restart()
        #expect(await eventually { f.log.pods("pod-a").last?.labels["restarted"] == "yes" })
        #expect(f.watcher.podStatistics.failures >= 1)
        await f.stop()
    }

    @Test func goneMeansRelistAndTheRelistDiffs() async throws {
        let f = try Fixture()
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) && f.server.watcherCount == 2 })
        // While the watch is down the history is compacted: the deletion is only visible to a relist.
        f.server.dropWatches()
        f.server.silentlyDeletePod(uid: "pod-b")
        f.server.putPod(uid: "pod-a", name: "web-a", labels: ["after": "gone"])
        f.server.compact()
        #expect(await eventually { f.log.deleted("pod-b") && f.log.pods("pod-a").last?.labels["after"] == "gone" })
        #expect(f.watcher.podStatistics.expired >= 1)
        #expect(f.watcher.podStatistics.lists >= 2)
        #expect(!f.log.deleted("pod-a"))
        await f.stop()
    }

    @Test func unauthorizedThenRotatedToken() async throws {
        let f = try Fixture()
        f.server.token = "token-2"  // the server rotated first: 401 until the file has the new token
        f.watcher.start()
        try await Task.sleep(for: .milliseconds(400))
        #expect(!f.log.all.contains(.podsSynced))
        #expect(f.watcher.podStatistics.failures >= 1)
        #expect(f.server.requests.contains { $0.authorization == "Bearer token-1" })
        // The kubelet writes the rotated token; the next 401 makes the client read it again.
        try "token-2\n".write(toFile: f.tokenFile, atomically: true, encoding: .utf8)
        #expect(await eventually { f.log.all.contains(.podsSynced) })
        #expect(f.server.requests.last?.authorization == "Bearer token-2")
        await f.stop()
    }

    @Test func clientCertificateAuthentication() async throws {
        let f = try Fixture(clientCertificate: true)
        f.watcher.start()
        #expect(await eventually { f.log.all.contains(.podsSynced) })
        await f.stop()
    }

    @Test func unknownCAIsRefused() async throws {
        let pki = try TestPKI()
        let other = try TestPKI()
        defer { pki.remove(); other.remove() }
        let server = FakeAPIServer(tls: try pki.serverContext(requireClientCertificate: false))
        try server.start()
        defer { server.shutdown() }
        let api = try KubernetesAPI(configuration: KubernetesClientConfiguration(
            server: server.server, certificateAuthorityPEM: other.caPEM, token: TokenSource(fixed: "token-1"), origin: "test"))
        do {
            _ = try await api.get("/api/v1/namespaces")
            Issue.record("a server signed by another CA must be refused")
        } catch {
            guard case .transport = error else { Issue.record("unexpected \(error)"); return }
        }
        #expect(server.requests.isEmpty)
        await api.shutdown()
    }
}
