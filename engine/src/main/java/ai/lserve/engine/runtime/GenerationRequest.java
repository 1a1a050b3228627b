package ai.lserve.engine.runtime;

/**
 * One generation: a text prompt (tokenized by the model's tokenizer) or prompt token ids, and how
 * to sample. {@code promptLogits} asks for the full-vocabulary logits of the last that many prompt
 * positions; {@code outputLogits} for the logits each generated token was sampled from.
 */
public record GenerationRequest(
    String prompt, int[] promptIds, SamplingParams sampling, int promptLogits, boolean outputLogits) {
  public GenerationRequest {
    if ((prompt == null) == (promptIds == null))
      throw new IllegalArgumentException("a request needs exactly one of a text prompt or prompt token ids");
    if (sampling == null) sampling = SamplingParams.defaults();
    if (promptLogits < 0) throw new IllegalArgumentException("prompt logits count must be >= 0");
  }

  public static GenerationRequest text(String prompt, SamplingParams sampling) {
    return new GenerationRequest(prompt, null, sampling, 0, false);
  }

  public static GenerationRequest ids(int[] promptIds, SamplingParams sampling) {
    return new GenerationRequest(null, promptIds.clone(), sampling, 0, false);
  }

  public GenerationRequest withPromptLogits(int last) {
    return new GenerationRequest(prompt, promptIds, sampling, last, outputLogits);
  }

  public GenerationRequest withOutputLogits(boolean on) {
    return new GenerationRequest(prompt, promptIds, sampling, promptLogits, on);
  }
}
