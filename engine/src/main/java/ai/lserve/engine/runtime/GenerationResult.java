package ai.lserve.engine.runtime;

/**
 * What a request produced.
 *
 * @param outputIds generated token ids (the prompt excluded)
 * @param text their text, stop string cut off; null when the model has no tokenizer
 * @param stopReason the end-of-sequence id or stop string that ended it, else null
 * @param promptLogits the requested prompt logits, [position][vocab], else null
 * @param outputLogits the logits each output token was sampled from, [token][vocab], if requested
 */
public record GenerationResult(
    int[] outputIds,
    String text,
    FinishReason finishReason,
    String stopReason,
    int promptTokens,
    int completionTokens,
    Timings timings,
    float[][] promptLogits,
    float[][] outputLogits) {}
