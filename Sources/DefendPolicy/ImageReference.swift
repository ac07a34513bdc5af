/// Container image references as policies compare them.
public enum ImageReference {
    /// A first path component is a registry when it has a '.' or ':' or is `localhost`
    /// (the rule Docker uses to tell `registry/repo` from `user/repo`).
    static func looksLikeRegistry(_ s: Substring) -> Bool {
        !s.isEmpty && (s.contains(".") || s.contains(":") || s == "localhost")
    }

    /// Normalises a full image name (registry/path, no tag) so Docker Hub spellings compare equal:
    /// `docker.io/nginx`, `docker.io/library/nginx`, `index.docker.io/library/nginx` and
    /// `registry-1.docker.io/nginx` all become `docker.io/library/nginx`. A reference without a
    /// registry (`nginx`, `user/app`) is taken as Docker Hub. A tag or digest is removed.
    public static func normalizedFullName(_ reference: String) -> String {
        var ref = Substring(reference)
        if let at = ref.firstIndex(of: "@") { ref = ref[..<at] }
        // A ':' after the last '/' is a tag (a ':' before it is a registry port).
        if let colon = ref.lastIndex(of: ":"), !ref[colon...].contains("/") { ref = ref[..<colon] }
        var parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count < 2 || !looksLikeRegistry(Substring(parts[0])) { parts.insert("docker.io", at: 0) }
        let registry = parts[0].lowercased()
        if registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io" {
            parts[0] = "docker.io"
            if parts.count == 2 { parts.insert("library", at: 1) }
        }
        return parts.joined(separator: "/")
    }

    /// The short name (last repository component) of a reference: `nginx` for
    /// `docker.io/library/nginx:1.25`.
    public static func shortName(_ reference: String) -> String {
        let full = normalizedFullName(reference)
        return full.split(separator: "/").last.map(String.init) ?? full
    }
}
