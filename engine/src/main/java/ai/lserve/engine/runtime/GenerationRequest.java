package ai.lserve.engine.runtime;

/**
 * One generation: a text prompt (tokenized by the model's tokenizer) or prompt token ids, and how
 * to sample. {@code promptLogits} asks for the full-vocabulary logits of the last that many prompt
 * positions.
 */
public record GenerationRequest(String prompt, int[] promptIds, SamplingParams sampling, int promptLogits) {
  public GenerationRequest {
    if ((prompt == null) == (promptIds == null))
      throw new IllegalArgumentException("a request needs exactly one of a text prompt or prompt token ids");
    if (sampling == null) sampling = SamplingParams.defaults();
    if (promptLogits < 0) throw new IllegalArgumentException("prompt logits count must be >= 0");
  }

  public static GenerationRequest text(String prompt, SamplingParams sampling) {
    return new GenerationRequest(prompt, null, sampling, 0);
  }

  public static GenerationRequest ids(int[] promptIds, SamplingParams sampling) {
    return new GenerationRequest(null, promptIds.clone(), sampling, 0);
  }

  public GenerationRequest withPromptLogits(int last) {
    return new GenerationRequest(prompt, promptIds, sampling, last);
  }
}
