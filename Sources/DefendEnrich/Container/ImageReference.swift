/// A parsed OCI/Docker image reference: `[registry[:port]/]repository[:tag][@digest]`.
/// Docker Hub references are normalised: `nginx` -> `docker.io/library/nginx`, `index.docker.io` ->
/// `docker.io`. A reference with neither tag nor digest gets the implied tag `latest`.
public struct ImageReference: Sendable, Hashable {
    public var registry: String
    public var repository: String
    public var tag: String?
    public var digest: String?

    public init(registry: String, repository: String, tag: String? = nil, digest: String? = nil) {
        self.registry = registry; self.repository = repository; self.tag = tag; self.digest = digest
    }

    /// `registry/repository` (the policy's `containerImageFullName`).
    public var fullName: String { "\(registry)/\(repository)" }
    /// Last path component of the repository (the policy's `containerImageName`).
    public var name: String {
        guard let slash = repository.lastIndex(of: "/") else { return repository }
        return String(repository[repository.index(after: slash)...])
    }

    /// nil for an empty or malformed reference.
    public init?(parsing text: String) {
        var rest = Substring(text.trimmingSpaces())
        guard !rest.isEmpty, !rest.contains(" ") else { return nil }
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            if digest?.isEmpty == true { return nil }
        }
        var tag: String?
        // a ':' after the last '/' is a tag; before it, a registry port
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            if tag?.isEmpty == true { return nil }
        }
        guard !rest.isEmpty else { return nil }
        var registry = "docker.io"
        var repo = rest
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            // Docker's rule: the first component is a registry if it has a '.' or ':' or is localhost.
            if first.contains(".") || first.contains(":") || first == "localhost" {
                registry = String(first)
                repo = rest[rest.index(after: slash)...]
            }
        }
        if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = "docker.io" }
        var repository = String(repo)
        if registry == "docker.io", !repository.contains("/") { repository = "library/" + repository }
        guard !repository.isEmpty, !repository.hasSuffix("/") else { return nil }
        if tag == nil, digest == nil { tag = "latest" }
        self.init(registry: registry, repository: repository,
                  tag: tag, digest: digest)
    }
}
