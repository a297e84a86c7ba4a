package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the per-model figures an operator graphs.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ttft     *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	// Inference takes from milliseconds (the stub, embeddings) to minutes
	// (long generations on a busy GPU).
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aima_inference_requests_total",
			Help: "Inference requests through the gateway, by model and HTTP status (499: the client went away)."}, []string{"model", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aima_inference_request_duration_seconds",
			Help: "Time from a request's arrival to the end of its answer, by model.", Buckets: buckets}, []string{"model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aima_inference_time_to_first_token_seconds",
			Help: "Time from a request's arrival to the first byte of the engine's answer, by model.", Buckets: buckets}, []string{"model"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aima_inference_tokens_total",
			Help: "Tokens the engines reported in usage, by model and direction (prompt, completion)."}, []string{"model", "direction"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aima_inference_in_flight",
			Help: "Inference requests being answered now, by model."}, []string{"model"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.ttft, m.tokens, m.inFlight)
	}
	return m
}
