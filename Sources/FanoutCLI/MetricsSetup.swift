import Metrics
import Prometheus

/// Routes swift-metrics to Prometheus's default registry, which `/metrics` renders.
enum MetricsSetup {
    static func bootstrap() {
        var factory = PrometheusMetricsFactory()
        // Sub-millisecond buckets: the pipeline's latencies live there on a healthy system.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
    }
}
