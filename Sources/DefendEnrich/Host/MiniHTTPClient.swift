import Glibc

/// Errors of the metadata HTTP client, naming the URL.
public enum HTTPClientError: Error, Equatable, CustomStringConvertible {
    case badURL(String)
    case resolve(String)
    case connect(String, errno: Int32)
    case timeout(String)
    case io(String, errno: Int32)
    case malformedResponse(String)

    public var description: String {
        switch self {
        case .badURL(let u): return "bad URL \(u) (only http://host[:port]/path)"
        case .resolve(let u): return "cannot resolve host of \(u)"
        case .connect(let u, let e): return "connect \(u): \(String(cString: strerror(e)))"
        case .timeout(let u): return "timeout talking to \(u)"
        case .io(let u, let e): return "I/O with \(u): \(String(cString: strerror(e)))"
        case .malformedResponse(let u): return "malformed HTTP response from \(u)"
        }
    }
}

public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A minimal blocking HTTP/1.1 client for instance metadata services: one request per connection
/// (`Connection: close`), a deadline over the whole exchange, Content-Length/chunked/EOF bodies.
/// Used only at start, never per event.
public struct MiniHTTPClient: Sendable {
    public var timeoutMs: Int
    public var maxBodyBytes: Int

    public init(timeoutMs: Int = 300, maxBodyBytes: Int = 1 << 20) {
        self.timeoutMs = timeoutMs; self.maxBodyBytes = maxBodyBytes
    }

    public func request(_ method: String, _ url: String, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws(HTTPClientError) -> HTTPResponse {
        guard url.hasPrefix("http://") else { throw .badURL(url) }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = String(hostPort)
        var port: UInt16 = 80
        if let colon = hostPort.lastIndex(of: ":") {
            guard let p = UInt16(hostPort[hostPort.index(after: colon)...]) else { throw .badURL(url) }
            port = p
            host = String(hostPort[..<colon])
        }
        guard !host.isEmpty else { throw .badURL(url) }
        let deadline = Self.nowMs() + timeoutMs

        let fd = try connect(host: host, port: port, url: url, deadline: deadline)
        defer { close(fd) }

        var req = "\(method) \(path) HTTP/1.1\r\nHost: \(hostPort)\r\nConnection: close\r\nUser-Agent: defend\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "PUT" || method == "POST" { req += "Content-Length: \(body.count)\r\n" }
        req += "\r\n"
        try send(fd, Array(req.utf8) + body, url: url, deadline: deadline)
        let raw = try receiveAll(fd, url: url, deadline: deadline)
        return try Self.parse(raw, url: url)
    }

    // MARK: socket steps

    private func connect(host: String, port: UInt16, url: String, deadline: Int) throws(HTTPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw .resolve(url) }
        defer { freeaddrinfo(res) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(url, errno: errno) }
        if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
            let e = errno
            guard e == EINPROGRESS else { close(fd); throw .connect(url, errno: e) }
            guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else { close(fd); throw .timeout(url) }
            var soErr: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len)
            if soErr != 0 { close(fd); throw .connect(url, errno: soErr) }
        }
        return fd
    }

    private func send(_ fd: Int32, _ bytes: [UInt8], url: String, deadline: Int) throws(HTTPClientError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress.map { $0 + off }, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n > 0 { off += n; continue }
            let e = errno
            if n < 0, e == EAGAIN || e == EINTR {
                guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else { throw .timeout(url) }
                continue
            }
            throw .io(url, errno: e)
        }
    }

    private func receiveAll(_ fd: Int32, url: String, deadline: Int) throws(HTTPClientError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while out.count <= maxBodyBytes + 64 * 1024 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out.append(contentsOf: chunk[0..<n])
                if Self.isComplete(out) { return out }
                continue
            }
            if n == 0 { return out }
            let e = errno
            if e == EAGAIN || e == EINTR {
                guard wait(fd, events: Int16(POLLIN), deadline: deadline) else { throw .timeout(url) }
                continue
            }
            throw .io(url, errno: e)
        }
        throw .malformedResponse(url)
    }

    private func wait(_ fd: Int32, events: Int16, deadline: Int) -> Bool {
        while true {
            let left = deadline - Self.nowMs()
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, Int32(left))
            if r > 0 { return true }
            if r == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    static func nowMs() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int(ts.tv_sec) * 1000 + Int(ts.tv_nsec) / 1_000_000
    }

    // MARK: parsing

    private static func headerEnd(_ raw: [UInt8]) -> Int? {
        guard raw.count >= 4 else { return nil }
        for i in 0...(raw.count - 4) where raw[i] == 13 && raw[i + 1] == 10 && raw[i + 2] == 13 && raw[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// Whole response received (by Content-Length), so we need not wait for the server to close.
    static func isComplete(_ raw: [UInt8]) -> Bool {
        guard let end = headerEnd(raw) else { return false }
        let head = String(decoding: raw[..<end], as: UTF8.self).lowercased()
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            if let n = Int(line.dropFirst(15).trimmingCharacters()) { return raw.count - (end + 4) >= n }
        }
        return false
    }

    static func parse(_ raw: [UInt8], url: String) throws(HTTPClientError) -> HTTPResponse {
        guard let end = headerEnd(raw) else { throw .malformedResponse(url) }
        let head = String(decoding: raw[..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw .malformedResponse(url) }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw .malformedResponse(url)
        }
        var headers: [String: String] = [:]
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = String(l[l.index(after: c)...].trimmingCharacters())
        }
        var body = Array(raw[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try dechunk(body, url: url)
        } else if let len = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= len else { throw .malformedResponse(url) }
            body = Array(body.prefix(len))
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ b: [UInt8], url: String) throws(HTTPClientError) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            var j = i
            while j + 1 < b.count, !(b[j] == 13 && b[j + 1] == 10) { j += 1 }
            guard j + 1 < b.count else { throw .malformedResponse(url) }
            let sizeText = String(decoding: b[i..<j], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingSpaces(), radix: 16) else { throw .malformedResponse(url) }
            i = j + 2
            if size == 0 { return out }
            guard i + size <= b.count else { throw .malformedResponse(url) }
            out.append(contentsOf: b[i..<(i + size)])
            i += size + 2
        }
        throw .malformedResponse(url)
    }
}
