import Foundation
import Testing
@testable import DefendKubernetes

/// `spec.volumes` of a pod: names, types (the volume source key that is set) and hostPath paths, which
/// classify subPath and hostPath mounts for the volume conditions.
struct PodVolumeTests {
    @Test func volumesAreReadFromTheSpec() throws {
        let json = """
            {"metadata":{"uid":"u1","name":"web","namespace":"shop","resourceVersion":"7"},
             "spec":{"nodeName":"n1","volumes":[
               {"name":"app-config","configMap":{"name":"app","defaultMode":420}},
               {"name":"tls","secret":{"secretName":"tls"}},
               {"name":"cache","emptyDir":{"medium":"Memory"}},
               {"name":"logs","hostPath":{"path":"/var/log/pods","type":"Directory"}},
               {"name":"data","persistentVolumeClaim":{"claimName":"data"}},
               {"name":"kube-api-access-x","projected":{"sources":[]}},
               {"name":"podinfo","downwardAPI":{"items":[]}},
               {"configMap":{"name":"nameless"}}
             ]}}
            """
        let wire = try JSONDecoder().decode(WirePod.self, from: Data(json.utf8))
        let pod = try #require(PodMetadata(wire: wire))
        #expect(pod.volumes == [
            .init(name: "app-config", type: "configMap"), .init(name: "tls", type: "secret"),
            .init(name: "cache", type: "emptyDir"), .init(name: "logs", type: "hostPath", hostPath: "/var/log/pods"),
            .init(name: "data", type: "persistentVolumeClaim"), .init(name: "kube-api-access-x", type: "projected"),
            .init(name: "podinfo", type: "downwardAPI"),
        ], "a volume without a name is skipped")
        let bare = try JSONDecoder().decode(WirePod.self, from: Data(#"{"metadata":{"uid":"u","name":"n","namespace":"s"}}"#.utf8))
        #expect(PodMetadata(wire: bare)?.volumes == [])
    }
}
