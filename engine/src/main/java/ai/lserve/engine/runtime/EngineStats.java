package ai.lserve.engine.runtime;

/**
 * Counters of an engine's work since it opened, for progress reports and for checking that
 * requests from many callers were batched together.
 *
 * @param maxSequencesInStep the most sequences one forward step carried
 */
public record EngineStats(
    long steps, long requestsFinished, long promptTokens, long generatedTokens, int maxSequencesInStep,
    int running, int waiting) {}
