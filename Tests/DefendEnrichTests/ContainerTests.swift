import Testing
import Foundation
import Glibc
import DefendEvents
@testable import DefendEnrich

private let idA = "0b5d5f2c8e1a4c7b9d3e6f8a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"
private let idB = "f00dbabe00112233445566778899aabbccddeeff00112233445566778899aabb"

@Suite struct CgroupPathTests {
    @Test(arguments: [
        ("/kubepods/burstable/pod1a2b3c4d-1111-2222-3333-444455556666/\(idA)", idA, ContainerRuntime.kubernetes, "1a2b3c4d-1111-2222-3333-444455556666"),
        ("/kubepods/besteffort/podabc-def/\(idA)", idA, .kubernetes, "abc-def"),
        ("/kubepods/pod0f0f/\(idA)", idA, .kubernetes, "0f0f"),
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b_3c4d.slice/cri-containerd-\(idA).scope", idA, .containerd, "1a2b-3c4d"),
        ("/kubepods.slice/kubepods-pod99_88.slice/crio-\(idB).scope", idB, .crio, "99-88"),
        ("/system.slice/docker-\(idA).scope", idA, .docker, nil),
        ("/docker/\(idA)", idA, .docker, nil),
        ("/docker/\(idA)/init.scope", idA, .docker, nil),
        ("/machine.slice/libpod-\(idB).scope", idB, .podman, nil),
        ("/machine.slice/libpod-\(idB).scope/container", idB, .podman, nil),
        ("/default/g1", "g1", .containerd, nil),
        ("/k8s.io/\(idA)", idA, .containerd, nil),
        ("/../../kubepods/burstable/podx/\(idA)", idA, .kubernetes, "x"),
    ] as [(String, String, ContainerRuntime, String?)])
    func containerPaths(path: String, id: String, runtime: ContainerRuntime, pod: String?) throws {
        let ref = try #require(CgroupPath.container(in: path), "\(path)")
        #expect(ref.id == id)
        #expect(ref.runtime == runtime)
        #expect(ref.podUID == pod)
    }

    @Test(arguments: ["/", "", "/init.scope", "/system.slice/cron.service", "/user.slice/user-1000.slice/session-3.scope",
                      "/user.slice/user-1000.slice", "/kubepods", "/kubepods/burstable", "/kubepods/burstable/podabc",
                      "/machine.slice/crio-conmon-\(idA).scope", "/system.slice/docker-notanid.scope", "/a/b/c"])
    func hostPaths(path: String) {
        #expect(CgroupPath.container(in: path) == nil, "\(path)")
    }

    @Test(arguments: ["/kubepods", "/kubepods/burstable", "/kubepods/burstable/pod1a2b3c4d-1111",
                      "/kubepods/besteffort/podabc-def/\(idA)", "/kubepods/pod0f0f", "/kubepods.slice",
                      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b_3c4d.slice",
                      "/kubepods.slice/kubepods-pod99_88.slice/cri-containerd-\(idA).scope",
                      "/kubelet.slice/kubelet-kubepods.slice"])
    func kubernetesTreeCgroups(path: String) {
        #expect(CgroupPath.isKubernetesCgroup(path), "\(path)")
    }

    @Test(arguments: ["/", "/system.slice/pod-thing", "/pods/podabc", "/default", "/default/g1",
                      "/system.slice/docker-\(idA).scope", "/user.slice/kubepodsish"])
    func otherCgroupsAreNotKubernetes(path: String) {
        #expect(!CgroupPath.isKubernetesCgroup(path), "\(path)")
    }

    @Test func containerdNamespaceIsKept() {
        #expect(CgroupPath.container(in: "/default/g1")?.namespace == "default")
    }
}

@Suite struct ImageReferenceTests {
    @Test(arguments: [
        ("nginx", "docker.io", "library/nginx", "latest", nil, "nginx"),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", nil, "nginx"),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", nil, "nginx"),
        ("index.docker.io/library/nginx:stable", "docker.io", "library/nginx", "stable", nil, "nginx"),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", nil, "redis"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", nil, "pause"),
        ("localhost:5000/team/app:dev", "localhost:5000", "team/app", "dev", nil, "app"),
        ("localhost/app", "localhost", "app", "latest", nil, "app"),
        ("gcr.io/proj/sub/img@sha256:abcd", "gcr.io", "proj/sub/img", nil, "sha256:abcd", "img"),
        ("ghcr.io/o/img:1.0@sha256:ef01", "ghcr.io", "o/img", "1.0", "sha256:ef01", "img"),
        ("myhost:443/img", "myhost:443", "img", "latest", nil, "img"),
    ] as [(String, String, String, String?, String?, String)])
    func parses(text: String, registry: String, repo: String, tag: String?, digest: String?, name: String) throws {
        let r = try #require(ImageReference(parsing: text))
        #expect(r.registry == registry)
        #expect(r.repository == repo)
        #expect(r.tag == tag)
        #expect(r.digest == digest)
        #expect(r.name == name)
        #expect(r.fullName == "\(registry)/\(repo)")
    }

    @Test(arguments: ["", " ", "nginx:", "nginx@", "a b", "docker.io/"])
    func rejects(text: String) { #expect(ImageReference(parsing: text) == nil, "\(text)") }
}

/// A temp directory tree standing in for the runtime state dirs and the cgroup filesystem.
private final class Fixture {
    let root: String
    init() throws {
        root = NSTemporaryDirectory() + "/defend-enrich-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ rel: String, _ text: String) throws {
        let path = root + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    func mkdir(_ rel: String) throws -> UInt64 {
        try FileManager.default.createDirectory(atPath: root + rel, withIntermediateDirectories: true)
        var st = stat()
        _ = stat(root + rel, &st)
        return UInt64(st.st_ino)
    }
    var locator: BundleLocator {
        BundleLocator(containerdRoots: [root + "/run/containerd/io.containerd.runtime.v2.task"],
                      crioRoots: [root + "/run/crio"], dockerRoots: [root + "/docker"])
    }
}

private func criConfig(image: String?, type: String = "container") -> String {
    var a = [
        "io.kubernetes.cri.container-type": type,
        "io.kubernetes.cri.container-name": "web",
        "io.kubernetes.cri.sandbox-name": "webapp-proxy-7d9f",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.sandbox-uid": "1a2b3c4d-1111-2222-3333-444455556666",
    ]
    if let image { a["io.kubernetes.cri.image-name"] = image }
    let data = try! JSONSerialization.data(withJSONObject: ["ociVersion": "1.1.0", "process": ["args": ["nginx"]], "annotations": a])
    return String(decoding: data, as: UTF8.self)
}

@Suite struct ContainerRegistryTests {
    @Test func criBundleDescribesKubernetesContainer() throws {
        let f = try Fixture()
        try f.write("/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(idA)/config.json", criConfig(image: "docker.io/library/nginx:1.25"))
        let reg = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg", clusterID: "cluster-uid", clusterName: "prod")
        let path = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b3c4d_1111_2222_3333_444455556666.slice/cri-containerd-\(idA).scope"
        let ctx = try #require(reg.apply(CgroupRecord(cgroupID: 4242, level: 4, path: path, created: true)))
        #expect(ctx.id == idA)
        #expect(ctx.imageName == "nginx")
        #expect(ctx.imageFullName == "docker.io/library/nginx")
        #expect(ctx.imageTag == "1.25")
        #expect(ctx.kubernetes?.namespace == "shop")
        #expect(ctx.kubernetes?.podName == "webapp-proxy-7d9f")
        #expect(ctx.kubernetes?.podUID == "1a2b3c4d-1111-2222-3333-444455556666")
        #expect(ctx.kubernetes?.clusterID == "cluster-uid")
        #expect(ctx.kubernetes?.clusterName == "prod")
        #expect(reg.context(forCgroupID: 4242) == ctx)
        #expect(reg.context(forContainerID: idA) == ctx)
        reg.updateKubernetes(containerID: idA) { $0.podLabels = ["app": "web"] }
        #expect(reg.context(forCgroupID: 4242)?.kubernetes?.podLabels == ["app": "web"])
        reg.apply(CgroupRecord(cgroupID: 4242, level: 4, path: path, created: false))
        #expect(reg.containerCount == 0)
    }

    @Test func ctrContainerWithoutAnnotationsHasIdOnly() throws {
        let f = try Fixture()
        try f.write("/run/containerd/io.containerd.runtime.v2.task/default/g1/config.json", #"{"ociVersion":"1.1.0"}"#)
        let reg = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg")
        let ctx = try #require(reg.note(cgroupID: 94, path: "/default/g1"))
        #expect(ctx == ContainerContext(id: "g1"))
        #expect(reg.apply(CgroupRecord(cgroupID: 95, level: 2, path: "/system.slice/cron.service", created: true)) == nil)
        #expect(reg.context(forCgroupID: 95) == nil)
    }

    @Test func crioAndDockerState() throws {
        let f = try Fixture()
        let crio = try JSONSerialization.data(withJSONObject: ["annotations": [
            "io.kubernetes.cri-o.ImageName": "quay.io/org/app:v2", "io.kubernetes.pod.name": "app-0",
            "io.kubernetes.pod.namespace": "ns1", "io.kubernetes.pod.uid": "u-1"]])
        try f.write("/run/crio/\(idB)/userdata/config.json", String(decoding: crio, as: UTF8.self))
        try f.write("/docker/\(idA)/config.v2.json", #"{"Name":"/web","Config":{"Image":"redis:7","Labels":{}}}"#)
        let reg = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg")
        let c1 = try #require(reg.note(cgroupID: 1, path: "/kubepods.slice/kubepods-pod9.slice/crio-\(idB).scope"))
        #expect(c1.imageName == "app" && c1.imageFullName == "quay.io/org/app" && c1.imageTag == "v2")
        #expect(c1.kubernetes?.podName == "app-0")
        #expect(c1.kubernetes?.namespace == "ns1")
        let c2 = try #require(reg.note(cgroupID: 2, path: "/system.slice/docker-\(idA).scope"))
        #expect(c2.imageName == "redis" && c2.imageFullName == "docker.io/library/redis" && c2.imageTag == "7")
        #expect(c2.kubernetes == nil)
    }

    @Test func unknownCgroupIDIsResolvedFromTheCgroupFilesystem() throws {
        let f = try Fixture()
        try f.write("/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(idA)/config.json", criConfig(image: "nginx"))
        let id = try f.mkdir("/cg/kubepods/besteffort/pod1a2b/\(idA)")
        let hostID = try f.mkdir("/cg/system.slice/ssh.service")
        let reg = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg")
        let ctx = try #require(reg.context(forCgroupID: id))
        #expect(ctx.id == idA)
        #expect(ctx.imageFullName == "docker.io/library/nginx")
        #expect(ctx.imageTag == "latest")
        #expect(reg.context(forCgroupID: hostID) == nil)
        #expect(reg.context(forCgroupID: 999_999_999) == nil)
        // seeding stats the paths processes report
        let reg2 = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg")
        reg2.seed([ProcSnapshot(entry: ProcessEntry(pid: 5), cgroupPath: "/kubepods/besteffort/pod1a2b/\(idA)")])
        #expect(reg2.containerCount == 1)
        #expect(reg2.containerID(forCgroupID: id) == idA)
    }

    @Test func bundleWrittenLaterIsPickedUpOnRetry() throws {
        let f = try Fixture()
        let reg = ContainerRegistry(locator: f.locator, cgroupRoot: f.root + "/cg")
        let first = try #require(reg.note(cgroupID: 7, path: "/k8s.io/\(idA)"))
        #expect(first.imageName == nil)
        try f.write("/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(idA)/config.json", criConfig(image: "busybox:1.36"))
        #expect(reg.context(forCgroupID: 7)?.imageName == "busybox")
    }
}

@Suite struct ContainerdStateDirectoryTests {
    @Test func taskRootIsUnderTheStateDirectory() {
        #expect(BundleLocator.containerdTaskRoot(stateDirectory: "/tmp/ctr/state") == "/tmp/ctr/state/io.containerd.runtime.v2.task")
        #expect(BundleLocator.containerdTaskRoot(stateDirectory: "/tmp/ctr/state//") == "/tmp/ctr/state/io.containerd.runtime.v2.task")
    }

    @Test func extraStateDirectoriesAreSearchedFirstAndDefaultsKept() {
        let l = BundleLocator.withContainerdStates(["/srv/ctr", "/run/containerd"])
        #expect(l.containerdRoots.first == "/srv/ctr/io.containerd.runtime.v2.task")
        #expect(Set(l.containerdRoots).isSuperset(of: BundleLocator.defaultContainerdRoots))
        #expect(l.containerdRoots.count == BundleLocator.defaultContainerdRoots.count + 1, "no duplicate roots")
        #expect(BundleLocator.withContainerdStates([]).containerdRoots == BundleLocator.defaultContainerdRoots)
    }

    @Test func bundleInPrivateStateDirectoryDescribesContainer() throws {
        let f = try Fixture()
        try f.write("/private/state/io.containerd.runtime.v2.task/ns1/\(idA)/config.json",
                    criConfig(image: "localhost/tools/busybox-defend:1.0"))
        let locator = BundleLocator.withContainerdStates([f.root + "/private/state"])
        let d = try #require(locator.describe(ContainerRef(id: idA, runtime: .kubernetes)))
        #expect(d.image == "localhost/tools/busybox-defend:1.0")
        #expect(BundleLocator().describe(ContainerRef(id: idA, runtime: .kubernetes)) == nil)
    }
}
