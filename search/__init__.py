"""Search: encoders, the tokenizer, vector and keyword index backends, ranking, semantic links, across the years."""
