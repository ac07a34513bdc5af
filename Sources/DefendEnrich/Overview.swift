// DefendEnrich: what the agent knows about processes, containers and the machine.
//
// At start (once):
//   let agentID = try AgentIdentity.loadOrCreate(stateDirectory: "/var/lib/defend")
//   let host = HostMetadata.collect()
//   let cloud = CloudMetadataDetector.detect(CloudMetadataConfig())      // nil off-cloud (fields absent)
//   let clock = BootClock.system()
//   let processes = ProcessTable(agentID: agentID, clock: clock, procReader: ProcReader())
//   let containers = ContainerRegistry(cgroupRoot: "/sys/fs/cgroup")
//   let snapshots = processes.seedFromProc()                            // after the sensor is attached
//   containers.seed(snapshots)
//
// Per kernel event (one thread owns both tables):
//   case .cgroup(let r): containers.apply(r)            // returns the ContainerContext of a new container cgroup
//   otherwise:           let view = processes.apply(event)
//                        let container = containers.context(forCgroupID: task.cgroupID)
//   then DocumentBuilder (DefendECS) turns (event, view, container, selector names) into NDJSON.
//
// Housekeeping: `ProcessTable.reap(nowBootNs:)` runs on every exit; call it and `sweepVanished()` from a
// timer (e.g. every 60 s) so entries whose exit records were lost do not wait for the total bound.
