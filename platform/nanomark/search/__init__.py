"""Similar-material search: FAISS indexes of patch embeddings, and the queries over them."""
