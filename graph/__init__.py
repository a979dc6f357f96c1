"""The domain model (documents, measures, regulations, articles, units, indicators, evidence), the store, RDF and SPARQL."""
