"""How a customer feels in a message: angry or complaining, neutral, pleased."""

from agents.sentiment.classifier import Sentiment, SentimentClassifier

__all__ = ["Sentiment", "SentimentClassifier"]
