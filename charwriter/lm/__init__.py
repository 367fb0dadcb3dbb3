"""The language model: CharRNN, corpora, training, sampling and model files. Never imports Textual."""
