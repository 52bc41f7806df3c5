"""Why a voice note got no transcript, with what the customer is told instead.

Every failure of the voice pipeline is one of these: the conversation engine
stores the message with the code and answers with `reply`, so a bad file, a
full queue or a missing model never crashes a dialog.
"""

from __future__ import annotations

MB = 1024 * 1024


class VoiceError(Exception):
    """A voice note that could not be transcribed; `reply` is for the customer (Russian)."""

    code = "failed"
    reply = ("Не получилось распознать голосовое сообщение. Напишите, пожалуйста, текстом — "
             "или позовите менеджера.")

    def __init__(self, detail: str = "", reply: str | None = None) -> None:
        super().__init__(detail or self.code)
        if reply is not None:
            self.reply = reply


class VoiceUnavailable(VoiceError):
    """No speech model on this installation."""

    code = "unavailable"
    # Starts like the engine's reply without a transcriber, so customers read one message.
    reply = ("Голосовые сообщения я пока не распознаю. Распознавание голоса недоступно — "
             "напишите, пожалуйста, текстом или позовите менеджера.")


class VoiceBusy(VoiceError):
    """The transcription queue is full."""

    code = "busy"
    reply = ("Сейчас очень много голосовых сообщений, и я не успеваю их распознать. "
             "Повторите, пожалуйста, чуть позже или напишите текстом.")


class VoiceUnsupported(VoiceError):
    """A media type that is not speech audio we decode."""

    code = "unsupported"
    reply = ("Такой формат аудио я не распознаю: принимаю голосовые сообщения и файлы OGG, MP3, M4A. "
             "Напишите, пожалуйста, текстом.")


class VoiceEmpty(VoiceError):
    """A zero-length file, or one without a single audio sample."""

    code = "empty"
    reply = "Голосовое сообщение пустое — в нём нет звука. Запишите его ещё раз или напишите текстом."


class VoiceNoSpeech(VoiceError):
    """Audio in which the model found no words."""

    code = "no_speech"
    reply = ("Не удалось разобрать слова в голосовом сообщении. Повторите, пожалуйста, "
             "чуть громче или напишите текстом.")


class VoiceCorrupt(VoiceError):
    """A file that does not decode as audio."""

    code = "corrupt"
    reply = ("Не получилось прочитать аудиофайл — похоже, он повреждён. Отправьте его ещё раз "
             "или напишите текстом.")


class VoiceTooLong(VoiceError):
    """Longer than `max_duration_s`."""

    code = "too_long"

    def __init__(self, detail: str, max_duration_s: float) -> None:
        super().__init__(detail, f"Голосовое сообщение слишком длинное: я распознаю записи до "
                                 f"{duration_ru(max_duration_s)}. Запишите, пожалуйста, покороче "
                                 f"или напишите текстом.")


class VoiceTooBig(VoiceError):
    """Bigger than `max_bytes` (or the messenger's download cap)."""

    code = "too_big"

    def __init__(self, detail: str, max_bytes: int) -> None:
        super().__init__(detail, f"Файл слишком большой: я принимаю аудио до {size_ru(max_bytes)}. "
                                 f"Запишите, пожалуйста, покороче или напишите текстом.")


def duration_ru(seconds: float) -> str:
    """«5 мин», «1 мин 30 с», «45 с»."""
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return f"{rest} с"
    return f"{minutes} мин" + (f" {rest} с" if rest else "")


def size_ru(n_bytes: int) -> str:
    """«20 МБ», «1,5 МБ», «300 КБ»."""
    if n_bytes >= MB:
        return f"{n_bytes / MB:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " МБ"
    return f"{max(1, n_bytes // 1024)} КБ"
