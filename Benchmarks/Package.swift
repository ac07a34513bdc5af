// swift-tools-version: 6.1
// Benchmarks for Defend, kept out of the main package so its dependencies stay minimal.
// Run: swift package --package-path Benchmarks benchmark   (or tools/bench-policy)
import PackageDescription

let package = Package(
    name: "DefendBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "defend", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "PolicyBenchmarks",
            dependencies: [
                .product(name: "DefendPolicy", package: "defend"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "PolicyBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
