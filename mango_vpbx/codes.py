"""Result codes of the PBX: meanings, classes, and what a call's end means to a receptionist.

The PBX answers commands, reports command outcomes (``/result/*``) and ends
call legs (``disconnect_reason``) with four-digit result codes. The first digit
is the class: 1xxx success / normal end, 2xxx billing limits, 3xxx bad request,
4xxx the action cannot be done, 5xxx server problems, 6xxx fax. The
specification asks to read an unknown code as the nearest known class
(2219 -> 2210, 1090 -> 1000): :func:`known_code` and :func:`describe` do that.

Meanings are kept in Russian as in the specification and in English; the
English ones are what exceptions carry (the Odoo layer translates them). The
exceptions for codes are in :mod:`mango_vpbx.errors` (:func:`~mango_vpbx.errors.error_for_code`).
"""

from __future__ import annotations

__all__ = [
    "CODES",
    "CODE_CLASSES",
    "DISCONNECT_CATEGORIES",
    "code_class",
    "disconnect_category",
    "known_code",
    "describe",
    "describe_ru",
    "is_success",
]

#: code -> (Russian meaning from the specification, English meaning).
CODES: dict[int, tuple[str, str]] = {
    1000: ("Действие успешно выполнено", "Done"),
    1001: ("Успешно с уточнениями", "Done, with remarks"),
    1100: ("Вызов завершен в нормальном режиме", "Call ended normally"),
    1110: ("Вызов завершен вызывающим абонентом", "Call ended by the caller"),
    1111: ("Вызов не получил ответа в течение времени ожидания", "Call not answered in time"),
    1120: ("Вызов завершен вызываемым абонентом", "Call ended by the called party"),
    1121: ("Получен ответ \"занято\" от удаленной стороны", "Busy"),
    1122: ("Вызов отклонен вызываемым абонентом", "Call rejected by the called party"),
    1123: ("Получен сигнал \"не беспокоить\"", "Do-not-disturb signal received"),
    1124: ("Получатель звонка в статусе \"Не беспокоить\" (КЦ)",
           "Called party is in do-not-disturb status (contact center)"),
    1125: ("Оператор остановил задание ИО", "Operator stopped the outbound campaign task"),
    1130: ("Ограничения для вызываемого номера", "Restrictions on the called number"),
    1131: ("Вызываемый номер недоступен", "Called number unreachable"),
    1132: ("Вызываемый номер не обслуживается", "Called number not in service"),
    1133: ("Вызываемый номер не существует", "Called number does not exist"),
    1134: ("Превышено максимальное число переадресаций", "Too many forwardings"),
    1135: ("Переадресация вызова запрещена", "Call forwarding forbidden"),
    1140: ("Вызовы на регион запрещены настройками ВАТС",
           "Calls to this region are forbidden by the PBX settings"),
    1150: ("Ограничения для вызывающего номера", "Restrictions on the calling number"),
    1151: ("Вызывающий номер в «черном» списке", "Calling number is blacklisted"),
    1152: ("Вызывающий номер не найден в «белом» списке", "Calling number is not whitelisted"),
    1160: ("Вызов на группу не удался", "Call to the group failed"),
    1161: ("Удержание запрещено настройками ВАТС", "Hold is forbidden by the PBX settings"),
    1162: ("Очередь удержания заполнена", "Hold queue is full"),
    1163: ("Превышено время ожидания в очереди удержания", "Hold queue waiting time exceeded"),
    1164: ("Все операторы в данный момент недоступны", "All operators are unavailable"),
    1170: ("Вызов завершен согласно схеме переадресации", "Call ended by the forwarding scheme"),
    1171: ("Неверно настроена схема переадресации", "Forwarding scheme is misconfigured"),
    1180: ("Вызов завершен командой пользователя", "Call ended by a user command"),
    1181: ("Вызов завершен по команде из внешней системы",
           "Call ended by a command from the external system"),
    1182: ("Вызов завершен перехватом на другого оператора",
           "Call ended by interception to another operator"),
    1183: ("Назначен новый оператор", "Another operator was assigned"),
    1190: ("Вызываемый номер неактивен либо нерабочее расписание",
           "Called number inactive or out of schedule"),
    1191: ("Вызываемый номер неактивен (снят флажок активности ЛК)",
           "Called number deactivated in the account"),
    1192: ("Вызываемый номер неактивен по расписанию", "Called number inactive by schedule"),
    1193: ("Вызываемый номер в разговоре и стоит настройка автоотклонения вызовов",
           "Called number is busy and auto-reject is on"),
    1200: ("Ошибка сессии контакт-центра", "Contact center session error"),
    1201: ("Превышен лимит подключений", "Connection limit exceeded"),
    1202: ("Данные сессии не найдены", "Session data not found"),
    1210: ("Сервер КЦ не может принять подключение",
           "Contact center server cannot accept the connection"),
    1211: ("Режим обслуживания", "Maintenance mode"),
    1212: ("Сервер отключен от БД", "Server disconnected from the database"),
    1230: ("Сессия завершена", "Session ended"),
    1235: ("Сервер отключен от БД", "Server disconnected from the database"),
    1236: ("Изменены критичные данные сессии", "Critical session data changed"),
    1300: ("Вызов завершен в нормальном режиме", "Call ended normally"),
    1310: ("Обнаружен автоответчик", "Answering machine detected"),
    1311: ("Абонент недоступен (автоответчик)", "Subscriber unreachable (answering machine)"),
    1312: ("Абонент занят (автоответчик)", "Subscriber busy (answering machine)"),
    1313: ("Голосовая почта", "Voice mail"),
    1314: ("Таймаут антиробота", "Anti-robot timeout"),
    2000: ("Ограничение биллинговой системы", "Billing restriction"),
    2100: ("Доступ к счету невозможен", "Account unavailable"),
    2110: ("Доступ к счету заблокирован", "Account blocked"),
    2120: ("Доступ к счету закрыт", "Account closed"),
    2130: ("Доступ к счету заморожен", "Account frozen"),
    2140: ("Счет недействителен", "Account invalid"),
    2200: ("Доступ к счету ограничен", "Account restricted"),
    2210: ("Доступ к счету ограничен периодом", "Account restricted by period"),
    2211: ("Достигнут дневной лимит", "Daily limit reached"),
    2212: ("Достигнут месячный лимит", "Monthly limit reached"),
    2220: ("Количество одновременных вызовов/действий ограничено",
           "Too many simultaneous calls or actions"),
    2230: ("Услуга недоступна", "Service unavailable for the account"),
    2240: ("Недостаточно средств на счете", "Insufficient funds"),
    2250: ("Лимит услуг в биллинге", "Billing service limit"),
    2300: ("Направление заблокировано", "Destination blocked"),
    2400: ("Ошибка биллинга", "Billing error"),
    3000: ("Неверный запрос", "Invalid request"),
    3100: ("Переданы неверные параметры команды", "Invalid command parameters"),
    3101: ("Запрос выполнен по методу, отличному от POST", "Request method is not POST"),
    3102: ("Значение ключа не соответствуют расчитанному", "Signature mismatch"),
    3103: ("В запросе отсутствует обязательный параметр", "Required parameter missing"),
    3104: ("Параметр передан в неправильном формате", "Parameter has a wrong format"),
    3105: ("Неверный ключ доступа", "Invalid API key"),
    3106: ("Значение уже используется", "Value already in use"),
    3108: ("Значение меньше ожидаемого", "Value smaller than expected"),
    3109: ("Значение больше ожидаемого", "Value greater than expected"),
    3111: ("Некорректные даты \"от\" и \"до\"", "Invalid from/to dates"),
    3123: ("Нужно указать один параметр", "Exactly one parameter must be given"),
    3124: ("Линия не подходит как исходящий номер", "Line cannot be used as outgoing number"),
    3126: ("Зацикливание IVR", "IVR loop"),
    3127: ("Недействительный auth_token", "Invalid auth_token"),
    3128: ("Некорректный URL", "Invalid URL"),
    3129: ("Неверная канальность аудио", "Invalid audio channel count"),
    3135: ("Нужно указать один параметр", "Exactly one parameter must be given"),
    3136: ("Неправильный формат номера", "Invalid number format"),
    3200: ("Неверно указан номер абонента", "Invalid subscriber number"),
    3300: ("Объект не существует", "Object does not exist"),
    3310: ("Вызов не найден", "Call not found"),
    3320: ("Запись разговора не найдена", "Recording not found"),
    3330: ("Номер не найден у ВАТС или сотрудника", "Number not found in the PBX or employee"),
    3340: ("Файл не найден", "File not found"),
    3400: ("Не корректный JSON передан в API ВАТС", "Invalid JSON sent to the PBX API"),
    3503: ("Слишком большой запрос поиска", "Search request is too big"),
    4000: ("Действие не может быть выполнено", "Action cannot be performed"),
    4001: ("Команда не поддерживается", "Command not supported"),
    4002: ("Продолжительность записи меньше минимально возможной, запись не будет сохранена",
           "Recording too short, it will not be saved"),
    4100: ("Выполнить команду по логике работы ВАТС невозможно",
           "The PBX's logic does not allow this command now"),
    4101: ("Вызов завершен либо не существует", "Call already ended or does not exist"),
    4102: ("Запись разговора уже осуществляется", "Recording already in progress"),
    4104: ("Слишком много переадресаций", "Too many forwardings"),
    4200: ("Связаться с абонентом в данный момент невозможно",
           "Subscriber cannot be reached right now"),
    4290: ("Превышен лимит запросов", "Rate limit exceeded"),
    4300: ("СМС отправить не удалось", "SMS could not be sent"),
    4301: ("СМС устарело", "SMS expired"),
    4391: ("СМС утеряно", "SMS lost"),
    4392: ("СМС отклонено", "SMS rejected"),
    4393: ("СМС отменено", "SMS cancelled"),
    4400: ("Ошибка конференции", "Conference error"),
    4500: ("Ограничения системы безопасности", "Security restriction"),
    4501: ("Установлено ограничение частоты звонков", "Call frequency limit"),
    4502: ("Вызывающий номер в черном списке входящих номеров",
           "Calling number is in the inbound blacklist"),
    4503: ("Файл слишком большой", "File too big"),
    4504: ("Размер файла неизвестен", "File size unknown"),
    4505: ("Формат файла не разрешен", "File format not allowed"),
    4506: ("Вызов не соответствует профилю безопасности", "Call violates the security profile"),
    4507: ("Абонент заблокирован", "Subscriber blocked"),
    5000: ("Ошибка сервера", "Server error"),
    5001: ("Перегрузка", "Overload"),
    5002: ("Перезапуск коммутатора", "Switch restarting"),
    5003: ("Технические проблемы", "Technical problems"),
    5004: ("Проблемы доступа к базе данных", "Database access problems"),
    5008: ("Услуга недоступна", "Service unavailable"),
    5011: ("Таймаут запроса к сервису", "Service request timeout"),
    5100: ("Ошибка задания", "Campaign task error"),
    5200: ("Ошибка настройки группы или сотрудника", "Group or employee configuration error"),
    5300: ("Ошибка адресной книги", "Address book error"),
    6000: ("Ошибка факса", "Fax error"),
}


def known_code(code: int) -> int | None:
    """The code itself if known, else its nearest known class (2219 -> 2210 -> 2200 -> 2000)."""
    for step in (1, 10, 100, 1000):
        candidate = code // step * step
        if candidate in CODES:
            return candidate
    return None


def describe(code: int | None) -> str:
    """English meaning of a result code, by class for unknown codes."""
    if code is None:
        return ""
    known = known_code(code)
    return CODES[known][1] if known is not None else f"Unknown result code {code}"


def describe_ru(code: int | None) -> str:
    """Russian meaning of a result code, as in the specification, by class for unknown codes."""
    if code is None:
        return ""
    known = known_code(code)
    return CODES[known][0] if known is not None else f"Неизвестный код результата {code}"


def is_success(code: int) -> bool:
    """Tell whether a result code means success (the 1000 class)."""
    return 1000 <= code <= 1099


#: The first digit of a code -> its class.
CODE_CLASSES: dict[int, str] = {
    1: "success",  # and normal ends of calls
    2: "billing",
    3: "request",  # the request is invalid
    4: "cannot_do",  # understood, but cannot be done now
    5: "server",
    6: "fax",
}


def code_class(code: int | None) -> str | None:
    """The class of a four-digit result code (:data:`CODE_CLASSES`), ``None`` for other values."""
    if code is None or not 1000 <= code <= 9999:
        return None
    return CODE_CLASSES.get(code // 1000)


#: Why a call ended, grouped into what a receptionist needs to know: (key, English label).
#: The PBX's own wording is :func:`describe`.
DISCONNECT_CATEGORIES: list[tuple[str, str]] = [
    ("normal", "Ended normally"),
    ("caller_hangup", "Caller hung up"),
    ("callee_hangup", "Called party hung up"),
    ("no_answer", "No answer"),
    ("busy", "Busy"),
    ("rejected", "Rejected"),
    ("do_not_disturb", "Do not disturb"),
    ("unreachable", "Number unreachable or restricted"),
    ("caller_restricted", "Caller restricted (black or white list)"),
    ("no_operator", "No operator available in the group or queue"),
    ("scheme", "Ended by the forwarding scheme"),
    ("command", "Ended by a command or an interception"),
    ("inactive", "Number inactive or outside its schedule"),
    ("billing", "Billing restriction"),
    ("technical", "Technical problem"),
    ("other", "Other"),
]
_EXACT_REASONS = {
    1100: "normal", 1300: "normal", 1000: "normal",
    1110: "caller_hangup", 1111: "no_answer", 1120: "callee_hangup",
    1121: "busy", 1122: "rejected", 1123: "do_not_disturb", 1124: "do_not_disturb",
}
# Ranges follow the PBX's code classes, so that an unknown code falls into its class as
# the specification requires; the first range that holds a code wins.
_REASON_RANGES = [
    (1130, 1149, "unreachable"),
    (1150, 1159, "caller_restricted"),
    (1160, 1169, "no_operator"),
    (1170, 1179, "scheme"),
    (1180, 1189, "command"),
    (1190, 1199, "inactive"),
    (1100, 1199, "normal"),
    (1300, 1399, "normal"),
    (2000, 2999, "billing"),
    (3200, 3299, "unreachable"),
    (4200, 4299, "unreachable"),
    (4000, 5999, "technical"),
]


def disconnect_category(code: int | None) -> str | None:
    """The :data:`DISCONNECT_CATEGORIES` key of a ``disconnect_reason``; ``None`` without one."""
    if not code:
        return None
    if code in _EXACT_REASONS:
        return _EXACT_REASONS[code]
    for low, high, category in _REASON_RANGES:
        if low <= code <= high:
            return category
    return "other"
