// DefendECS: ECS 8.7 documents for Defend for Containers, written by hand (JSONWriter on a ByteBuffer).
//
//   var builder = DocumentBuilder(agent: AgentMetadata(id: agentID, version: v), host: host, cloud: cloud,
//                                 clock: clock, config: DocumentConfig(namespace: "default", ...))
//   // per event, after ProcessTable.apply:
//   builder.withDocuments(event: e, process: view, container: ctx, matchedSelectors: names) { lines, count in
//       sink.append(lines, documents: count)      // bytes valid only inside the closure
//   }
//   // or: let n = builder.write(event:process:container:matchedSelectors:into: &bytes)  (appends, returns count)
//
// Streams and fields: see DocumentBuilder. Bounds on strings/args: DocumentConfig.
