import Foundation
import Glibc

/// A tiny HTTP/1.1 server on 127.0.0.1 for replaying metadata-service responses in tests.
final class TestHTTPServer: @unchecked Sendable {
    struct Request: Sendable { var method: String; var path: String; var headers: [String: String] }
    struct Reply: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: String = ""
        var chunked = false
    }
    typealias Handler = @Sendable (Request) -> Reply

    let port: UInt16
    private let fd: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var _requests: [Request] = []
    private let done = DispatchSemaphore(value: 0)

    var requests: [Request] { lock.lock(); defer { lock.unlock() }; return _requests }

    init(handler: @escaping Handler) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in self.serve() }
        t.start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        _ = done.wait(timeout: .now() + 2)
    }

    private func serve() {
        defer { done.signal() }
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; return }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var raw: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !raw.containsHeaderEnd {
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            raw.append(contentsOf: buf[0..<n])
        }
        let head = String(decoding: raw, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        var lines = head.components(separatedBy: "\r\n")
        let first = lines.removeFirst().split(separator: " ")
        var headers: [String: String] = [:]
        for l in lines {
            if let i = l.firstIndex(of: ":") { headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces) }
        }
        let req = Request(method: String(first.first ?? ""), path: first.count > 1 ? String(first[1]) : "", headers: headers)
        lock.lock(); _requests.append(req); lock.unlock()
        let reply = handler(req)
        var out = "HTTP/1.1 \(reply.status) X\r\n"
        for (k, v) in reply.headers { out += "\(k): \(v)\r\n" }
        if reply.chunked {
            out += "Transfer-Encoding: chunked\r\n\r\n"
            let body = Array(reply.body.utf8)
            var i = 0
            while i < body.count {
                let n = min(7, body.count - i)
                out += String(n, radix: 16) + "\r\n" + String(decoding: body[i..<(i + n)], as: UTF8.self) + "\r\n"
                i += n
            }
            out += "0\r\n\r\n"
        } else {
            out += "Content-Length: \(reply.body.utf8.count)\r\n\r\n" + reply.body
        }
        let bytes = Array(out.utf8)
        _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

extension Array where Element == UInt8 {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}
