import Synchronization

/// Runs jobs that share a key one after another, and jobs with different keys concurrently.
///
/// Workers key by connection ID, so that the messages of one connection are handled in the order
/// they were appended — as far as one worker sees them. (Two workers may still each receive one
/// message of the same connection; the README says so.)
final class SerialQueues<Job: Sendable>: Sendable {
    private let queues = Mutex<[String: [Job]]>([:])

    /// Records `job`; returns `true` when the caller must start running the queue for `key`
    /// (nothing was running for it), `false` when a running queue will pick the job up.
    func enqueue(_ job: Job, key: String) -> Bool {
        queues.withLock { queues in
            if queues[key] != nil {
                queues[key]!.append(job)
                return false
            }
            queues[key] = []
            return true
        }
    }

    /// The next job for `key`, or `nil` — in which case the queue is gone and the runner stops.
    func next(for key: String) -> Job? {
        queues.withLock { queues in
            guard var pending = queues[key], !pending.isEmpty else {
                queues[key] = nil
                return nil
            }
            let job = pending.removeFirst()
            queues[key] = pending
            return job
        }
    }
}
