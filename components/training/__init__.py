"""Training: a tabular Keras 2 (tf_keras) model with its preprocessing inside, and its export."""
