/// A parsed OCI/Docker image reference: `[registry[:port]/]repository[:tag][@digest]`.
/// Docker Hub references are normalised: `nginx` -> `docker.io/library/nginx`, `index.docker.io` and
/// `registry-1.docker.io` -> `docker.io`. A reference with neither tag nor digest gets the implied tag
/// `latest`. One parser serves the enrichment (container images) and the policy (image conditions),
/// so both sides of a comparison are normalised alike.
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
        var rest = text.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        while let last = rest.last, last == " " || last == "\t" || last == "\n" || last == "\r" { rest = rest.dropLast() }
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
            if Self.looksLikeRegistry(first) {
                registry = first.lowercased()
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

    /// Docker's rule: a first path component is a registry when it has a '.' or ':' or is `localhost`
    /// (that is how `registry/repo` is told from `user/repo`).
    public static func looksLikeRegistry(_ s: Substring) -> Bool {
        !s.isEmpty && (s.contains(".") || s.contains(":") || s == "localhost")
    }

    /// `registry/repository` without tag or digest, Docker Hub spellings normalised
    /// (`docker.io/nginx` == `index.docker.io/library/nginx` == `docker.io/library/nginx`);
    /// the text itself when it is not a reference.
    public static func normalizedFullName(_ reference: String) -> String {
        ImageReference(parsing: reference)?.fullName ?? reference
    }

    /// The last repository component: `nginx` for `docker.io/library/nginx:1.25`.
    public static func shortName(_ reference: String) -> String {
        ImageReference(parsing: reference)?.name ?? reference
    }
}
