// swift-tools-version: 6.1
// Defend: container workload protection agent (Swift userspace, eBPF kernel side).
import PackageDescription

let package = Package(
    name: "defend",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "defend", targets: ["defend"]),
        .library(name: "DefendPolicy", targets: ["DefendPolicy"]),
        // For Benchmarks/Enrich (enrichment + ECS throughput and memory).
        .library(name: "DefendEnrich", targets: ["DefendEnrich", "DefendECS", "DefendEvents"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Kubernetes API client: HTTP/1.1 over TLS (the service-account CA, client certificates).
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // libbpf / libelf / zlib from Debian's -dev packages, plus the kernel<->user ABI header.
        .systemLibrary(name: "CLibBPF", path: "Sources/CLibBPF"),

        // Host tool run by the build plugin: clang -target bpf -> bpftool gen object -> embedded Swift.
        .executableTarget(name: "bpf-embed", path: "Sources/bpf-embed"),
        .plugin(name: "BPFCompilerPlugin", capability: .buildTool(), dependencies: ["bpf-embed"],
                path: "Plugins/BPFCompilerPlugin"),

        // YAML -> validated Policy -> compiled selector tables; reference evaluator.
        .target(name: "DefendPolicy", dependencies: ["DefendEvents", .product(name: "Yams", package: "Yams")]),
        // Typed records decoded from the kernel (value types shared by sensor and enrichment).
        .target(name: "DefendEvents"),
        // Load/attach BPF, feature probes, policy maps, ring-buffer reader, loss counters.
        .target(name: "DefendKernel", dependencies: ["CLibBPF", "DefendPolicy", "DefendEvents"],
                plugins: ["BPFCompilerPlugin"]),
        // Process table, containers, host/cloud metadata.
        .target(name: "DefendEnrich", dependencies: ["DefendEvents", "DefendPolicy"]),
        // ECS documents and the hand-written JSON writer.
        .target(name: "DefendECS", dependencies: ["DefendEvents", "DefendEnrich", "DefendPolicy"]),
        // Kubernetes API client: in-cluster/kubeconfig configuration, list+watch of this node's pods and
        // the namespaces, a bounded cache of pod metadata.
        .target(name: "DefendKubernetes", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // NDJSON sinks (stdout/file).
        .target(name: "DefendOutput", dependencies: ["DefendECS"]),
        // Config, pipeline wiring, lifecycle.
        .target(name: "DefendAgent", dependencies: [
            "DefendPolicy", "DefendEvents", "DefendKernel", "DefendEnrich", "DefendECS", "DefendOutput",
            "DefendKubernetes",
        ]),
        .executableTarget(name: "defend", dependencies: [
            "DefendAgent", "DefendPolicy", "DefendKubernetes",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "DefendPolicyTests", dependencies: ["DefendPolicy"]),
        .testTarget(name: "DefendKernelTests", dependencies: ["DefendKernel", "DefendPolicy", "DefendEvents"]),
        .testTarget(name: "DefendEnrichTests", dependencies: ["DefendEnrich", "DefendEvents"]),
        .testTarget(name: "DefendECSTests", dependencies: ["DefendECS", "DefendEnrich", "DefendEvents"]),
        .testTarget(name: "DefendAgentTests", dependencies: ["DefendAgent", "DefendPolicy", "DefendKubernetes"]),
        .testTarget(name: "DefendKubernetesTests", dependencies: [
            "DefendKubernetes",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
    ]
)
