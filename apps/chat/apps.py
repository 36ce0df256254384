from django.apps import AppConfig

from apps.core.navigation import NavItem


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    feature_labels = {"chat": "Chat answers", "chat_title": "Conversation titles"}
    nav_items = (
        NavItem(
            section="chat",
            label="Chat",
            url_name="chat:index",
            icon="includes/icons/chat.svg",
            order=20,
            lights=("chat",),
        ),
        NavItem(
            section="quality",
            label="AI quality",
            url_name="chat:quality",
            icon="includes/icons/quality.svg",
            order=70,
            lights=("chat:quality",),
            managers_only=True,
        ),
    )
