import NIOCore

/// A `TaskExecutor` that runs jobs on one NIO event loop.
///
/// The worker's batch loop prefers it, with both of its Redis connections pinned to the same loop:
/// every `await` on a Redis reply then resumes on the thread that read the reply, in the same
/// tick — no hop to the cooperative pool and back per round trip, no context switch. Quick
/// handlers run there too, in place; lanes for slow handlers leave for the global executor
/// (`BatchRunner`), so a handler that computes or blocks never holds the loop for others.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
