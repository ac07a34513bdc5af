import DefendECS
@testable import DefendOutput
import Foundation
import Testing

/// The reader takes segments in blocks: batches that cross blocks, a frame larger than a block,
/// reused batch buffers, and a corrupt frame in the middle of a segment.
@Suite struct QueueReadTests {
    let quietLog: OutputLogger = { _, _ in }

    @Test func batchesCrossReadBlocksAndKeepEveryDocumentInOrder() throws {
        let dir = tempDir("blocks")
        let q = try DiskQueue(settings: QueueSettings(path: dir), log: quietLog)
        var factory = DocumentFactory()
        var ids: [String] = []
        // About 3 MiB of documents of varying size, one of them larger than a read block.
        for round in 0..<30 {
            var chunk = DocumentChunk()
            for i in 0..<100 {
                let pad = ",\"pad\":\"" + String(repeating: "y", count: (round * 37 + i * 13) % 900) + "\""
                let (b, s, id) = factory.make(.process, extra: pad)
                chunk.bytes += b; chunk.spans.append(s); ids.append(id)
            }
            if round == 10 {
                let (b, s, id) = factory.make(.process, extra: ",\"big\":\"" + String(repeating: "z", count: 3 << 19) + "\"")
                chunk.bytes += b; chunk.spans.append(s); ids.append(id)
            }
            q.append(chunk)
        }
        var got: [String] = []
        while var b = q.nextBatch(lane: .logs, maxDocuments: 333, maxBytes: 700 << 10) {
            #expect(b.spans.count <= 333)
            #expect(b.bytes.count == b.spans.reduce(0) { $0 + Int($1.length) })
            #expect(b.spans.count == 1 || b.bytes.count <= 700 << 10)
            got += DeliveryTests.ids(b)
            q.ack(b)
            q.recycle(&b)
        }
        #expect(got == ids)
        #expect(q.counters.queuedDocuments == 0)
        q.close()
    }

    @Test func aCorruptFrameInTheMiddleSkipsTheRestOfItsSegmentCounted() throws {
        let dir = tempDir("corrupt")
        var factory = DocumentFactory()
        do {
            let q = try DiskQueue(settings: QueueSettings(path: dir), log: quietLog)
            var chunk = DocumentChunk()
            for _ in 0..<10 { let (b, s, _) = factory.make(.file); chunk.bytes += b; chunk.spans.append(s) }
            q.append(chunk)
            q.close()
        }
        let logs = dir + "/logs"
        let seg = try #require(try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".seg") }.sorted().first {
            (try? FileManager.default.attributesOfItem(atPath: logs + "/" + $0)[.size] as? Int).map { $0 > 0 } == true
        })
        let q = try DiskQueue(settings: QueueSettings(path: dir), log: quietLog)
        #expect(q.counters.queuedDocuments == 10)
        // Flip a byte of the fourth document's payload after start-up (recovery saw it whole).
        let fd = open(logs + "/" + seg, O_RDWR)
        var header = [UInt8](repeating: 0, count: 12)
        var offset: off_t = 0
        for _ in 0..<3 {
            _ = pread(fd, &header, 12, offset)
            offset += 12 + off_t(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        }
        var byte: UInt8 = 0
        _ = pread(fd, &byte, 1, offset + 20)
        byte ^= 0x40
        _ = pwrite(fd, &byte, 1, offset + 20)
        close(fd)
        let b = try #require(q.nextBatch(lane: .logs, maxDocuments: 100, maxBytes: 1 << 20))
        #expect(b.spans.count == 3)
        q.ack(b)
        #expect(q.nextBatch(lane: .logs, maxDocuments: 100, maxBytes: 1 << 20) == nil)
        #expect(q.counters.corrupt == 7)
        #expect(q.counters.queuedDocuments == 0)
        q.close()
    }
}
