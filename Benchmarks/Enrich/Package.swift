// swift-tools-version: 6.1
// Enrichment benchmark: kernel records -> process table -> ECS NDJSON, and process-table memory.
// A plain release executable that prints figures. Run: tools/bench-enrich
import PackageDescription

let package = Package(
    name: "EnrichBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "defend", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "enrich-bench",
            dependencies: [.product(name: "DefendEnrich", package: "defend")],
            path: "Sources/enrich-bench"),
    ]
)
