import CZlib

/// gzip of a whole request body with a reused zlib stream (one deflateReset per body, not an init).
final class GzipCompressor {
    fileprivate var stream = z_stream()
    private let level: Int32
    private var initialized = false

    init(level: Int) { self.level = Int32(min(max(level, 1), 9)) }

    deinit { if initialized { deflateEnd(&stream) } }

    /// Compresses `input` into `output` (replaced). Returns false on a zlib error.
    /// Starts a new gzip member on the reused stream.
    fileprivate func beginStream() -> Bool {
        if !initialized {
            guard defend_deflate_init_gzip(&stream, level) == Z_OK else { return false }
            initialized = true
        } else {
            deflateReset(&stream)
        }
        return true
    }

    func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        if !beginStream() { return false }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        var produced = 0
        let result: Int32 = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let r = deflate(&stream, Z_FINISH)
            produced = out.count - Int(stream.avail_out)
            return r
        }
        guard result == Z_STREAM_END else { return false }
        output.removeSubrange(produced...)
        return true
    }
}

import NIOCore

extension GzipCompressor {
    /// Compresses `input` into `output` (cleared first, storage reused). Returns false on a zlib error.
    func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer) -> Bool {
        if !beginStream() { return false }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        output.clear()
        var result: Int32 = Z_STREAM_ERROR
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            result = deflate(&stream, Z_FINISH)
            return out.count - Int(stream.avail_out)
        }
        return result == Z_STREAM_END
    }
}

/// gunzip (tests and the stand-in server).
public enum Gunzip {
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) -> [UInt8]? {
        var stream = z_stream()
        guard defend_inflate_init_gzip(&stream) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        var input = input
        return input.withUnsafeMutableBytes { inp -> [UInt8]? in
            stream.next_in = inp.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inp.count)
            while true {
                let r: Int32 = chunk.withUnsafeMutableBytes { c in
                    stream.next_out = c.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(c.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let n = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<n])
                if out.count > limit { return nil }
                if r == Z_STREAM_END { return out }
                if r != Z_OK { return nil }
                if stream.avail_in == 0 && n == 0 { return nil }
            }
        }
    }
}
