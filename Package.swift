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
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libbpf / libelf / zlib from Debian's -dev packages, plus the kernel<->user ABI header.
        .systemLibrary(name: "CLibBPF", path: "Sources/CLibBPF"),
        // zlib (gzip bodies, CRC-32 of disk queue frames).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

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
        // The configuration file: YAML with FILE:LINE:COL errors, ${VAR} substitution, redacted secrets.
        .target(name: "DefendConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Outputs: the hand-off thread, disk queue, Elasticsearch bulk client, file/console NDJSON.
        .target(name: "DefendOutput", dependencies: [
            "DefendECS", "DefendConfig", "CZlib",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // What operators read: the metrics snapshot, its Prometheus/health HTTP endpoint, the status
        // socket, and the text/JSON log handlers. Knows nothing of the agent's loop state.
        .target(name: "DefendTelemetry", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Config, pipeline wiring, lifecycle.
        .target(name: "DefendAgent", dependencies: [
            "DefendPolicy", "DefendEvents", "DefendKernel", "DefendEnrich", "DefendECS", "DefendOutput",
            "DefendConfig", "DefendTelemetry", "DefendKubernetes", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "defend", dependencies: [
            "DefendAgent", "DefendPolicy", "DefendConfig", "DefendOutput", "DefendTelemetry", "DefendKubernetes",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // tools/bench-es: Elasticsearch output throughput to a no-op bulk endpoint, RSS with a full queue.
        .executableTarget(name: "es-bench", dependencies: [
            "DefendOutput", "DefendECS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // tools/bench-pipeline: records -> documents through the agent's EventPipeline into each sink, RSS.
        .executableTarget(name: "pipeline-bench", dependencies: [
            "DefendAgent", "DefendPolicy", "DefendEvents", "DefendEnrich", "DefendECS", "DefendOutput", "DefendKubernetes",
        ]),

        .testTarget(name: "DefendPolicyTests", dependencies: ["DefendPolicy"]),
        .testTarget(name: "DefendKernelTests", dependencies: ["DefendKernel", "DefendPolicy", "DefendEvents"]),
        .testTarget(name: "DefendEnrichTests", dependencies: ["DefendEnrich", "DefendEvents"]),
        .testTarget(name: "DefendECSTests", dependencies: ["DefendECS", "DefendEnrich", "DefendEvents"]),
        // FakeAPIServer.swift is a link to DefendKubernetesTests' (the end-to-end test serves it to `defend run`).
        .testTarget(name: "DefendAgentTests", dependencies: [
            "DefendAgent", "DefendPolicy", "DefendTelemetry", "DefendKubernetes",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "DefendConfigTests", dependencies: ["DefendConfig", "DefendAgent"]),
        // Delivery tests against a local server that follows Elasticsearch's documented bulk protocol.
        .testTarget(name: "DefendOutputTests", dependencies: [
            "DefendOutput", "DefendECS", "DefendAgent", "DefendConfig", "CZlib",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "DefendKubernetesTests", dependencies: [
            "DefendKubernetes",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "DefendTelemetryTests", dependencies: ["DefendTelemetry"]),
    ]
)
